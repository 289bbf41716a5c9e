package main

import (
	"os"
	"reflect"
	"regexp"
	"runtime"
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

// Only the applets that act as users lock the main thread in init (the
// lock starts a thread every run would pay for).
func TestLockMainThread(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/usr/sbin/bpmaster"}, true},
		{[]string{"bproc", "bpslave"}, true},
		{[]string{"bproc", "nodeview"}, true},
		{[]string{"/init"}, true},
		{[]string{"bpsh", "0", "true"}, false},
		{[]string{"bproc", "bpstat"}, false},
		{[]string{"bproc", "nosuch"}, false},
		{[]string{"bproc"}, false},
		{nil, false},
	} {
		if got := lockMainThread(c.argv); got != c.want {
			t.Errorf("lockMainThread(%q) = %v, want %v", c.argv, got, c.want)
		}
	}
}

// ActsAsUser must be set on exactly the applets whose code reaches package
// asuser: one that acts as a user without the main thread to itself could
// leave it with a user's credentials.
func TestActsAsUserFollowsImports(t *testing.T) {
	all := importsOf(t, false)
	reaches := func(from, to string) bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if d == to {
				return true
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			for i := range all[d] {
				stack = append(stack, i)
			}
		}
		return false
	}
	for _, a := range table {
		if a.Run == nil || a.Hidden {
			continue
		}
		fn := runtime.FuncForPC(reflect.ValueOf(a.Run).Pointer()).Name()
		pkg, ok := strings.CutPrefix(fn[:strings.LastIndex(fn, ".")], module)
		if !ok {
			t.Fatalf("%s: Run is %s, not in %s", a.Name, fn, module)
		}
		if got := reaches(pkg, "internal/shared/asuser"); got != a.ActsAsUser {
			t.Errorf("%s (%s): reaches internal/shared/asuser = %v, ActsAsUser = %v", a.Name, pkg, got, a.ActsAsUser)
		}
	}
}
