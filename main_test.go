package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bproc/bproc/applets"
)

// The Makefile makes a symlink per applet users run by name (bin/, make
// install); its APPLETS must name those of the table, no more, no less.
func TestMakefileApplets(t *testing.T) {
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^APPLETS\s*:=(.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("Makefile: no APPLETS := line")
	}
	got := strings.Fields(m[1])
	slices.Sort(got)
	var want []string
	for _, a := range table {
		if a.Link {
			want = append(want, a.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Makefile: APPLETS := %s; main.go's table links %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	// The node image links the same (applets.Linked, from the table).
	if l := applets.Linked(); !slices.Equal(l, want) {
		t.Errorf("applets.Linked() = %v, want %v", l, want)
	}
}
