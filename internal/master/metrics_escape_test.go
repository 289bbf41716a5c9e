package master

import (
	"strings"
	"testing"
)

// FuzzEscape holds the written-out escapes equal to the strings.Replacer
// they replace (a package-level one every start of the binary paid for).
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", `a\b`, "two\nlines", `say "hi"`, "\\\n\"\\\\", "ünï\x00\xff"} {
		f.Add(s)
	}
	label := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	help := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := escapeLabel(s), label.Replace(s); got != want {
			t.Errorf("escapeLabel(%q) = %q, want %q", s, got, want)
		}
		if got, want := escapeHelp(s), help.Replace(s); got != want {
			t.Errorf("escapeHelp(%q) = %q, want %q", s, got, want)
		}
	})
}
