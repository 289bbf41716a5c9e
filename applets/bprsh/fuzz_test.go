package bprsh

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzParse: any command line either parses to a host and the words after
// it, or fails with a ParseError; never a panic. Words are joined with NUL
// (no argument holds one).
func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	for _, tc := range badArgs {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		o, err := Parse(args)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || o != nil {
				t.Fatalf("Parse(%q) = %v, %v: want nil and a ParseError", args, o, err)
			}
			return
		}
		if o.Host == "" {
			t.Fatalf("Parse(%q) gave no host", args)
		}
		// The command is the tail of the line, word for word.
		if len(o.Command) > 0 && !slices.Equal(o.Command, args[len(args)-len(o.Command):]) {
			t.Fatalf("Parse(%q).Command = %q: not the line's last words", args, o.Command)
		}
	})
}
