package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// links makes each link of chain (name -> target) in dir; targets are as
// written (relative or absolute). The binary itself is the file "bproc".
func links(t *testing.T, dir string, chain [][2]string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "bproc"), []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range chain {
		p := filepath.Join(dir, l[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(l[1], p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPickThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	links(t, dir, [][2]string{
		// /usr/local/bin/bpsh -> /opt/bproc/bin/bpsh -> bproc
		{"usr/local/bin/bpsh", filepath.Join(dir, "opt/bproc/bin/bpsh")},
		{"opt/bproc/bin/bpsh", "../../../bproc"},
		// a name that is no applet, leading to one that is
		{"usr/bin/runner", "../local/bin/stat-link"},
		{"usr/local/bin/stat-link", "bpstat"},
		{"usr/local/bin/bpstat", "../../../bproc"},
		// bpsh -> bproc-1.2 -> bproc: the first applet name wins
		{"bin/bpsh", "bproc-1.2"},
		{"bin/bproc-1.2", "../bproc"},
		// a version link before the applet name: bpctl still found
		{"bin/tool", "bproc-1.2-ctl"},
		{"bin/bproc-1.2-ctl", "bpctl"},
		{"bin/bpctl", "../bproc"},
		// no applet anywhere: the first argument picks
		{"bin/plain", "../bproc"},
		// a loop: no applet, and the walk ends
		{"loop/a", "b"},
		{"loop/b", "a"},
	})
	for _, tc := range []struct {
		argv0, want string
		rest        []string
	}{
		{filepath.Join(dir, "usr/local/bin/bpsh"), "bpsh", []string{"x"}},
		{filepath.Join(dir, "usr/bin/runner"), "bpstat", []string{"x"}},
		{filepath.Join(dir, "bin/bpsh"), "bpsh", []string{"x"}},
		{filepath.Join(dir, "bin/tool"), "bpctl", []string{"x"}},
		{filepath.Join(dir, "bin/plain"), "bpcp", nil},
		{filepath.Join(dir, "bproc"), "bpcp", nil},
		{filepath.Join(dir, "loop/a"), "bpcp", nil},
		{filepath.Join(dir, "missing"), "bpcp", nil},
	} {
		argv := []string{tc.argv0, "x"}
		if tc.want == "bpcp" && tc.rest == nil {
			argv = []string{tc.argv0, "bpcp", "y"} // falls back to argv[1]
		}
		orig := slices.Clone(argv)
		a, _, err := pick(argv)
		if err != nil || a == nil || a.Name != tc.want {
			t.Errorf("pick(%q): %v %v, want %s", argv, a, err, tc.want)
		}
		if !slices.Equal(argv, orig) {
			t.Errorf("pick changed argv to %q", argv)
		}
	}
}

// TestPickFromPath: a bare name (run through PATH) is resolved in PATH
// before its links are followed.
func TestPickFromPath(t *testing.T) {
	dir := t.TempDir()
	links(t, dir, [][2]string{{"bproc-bpstat", "bpstat"}, {"bpstat", "bproc"}})
	t.Setenv("PATH", dir)
	a, rest, err := pick([]string{"bproc-bpstat", "-l"})
	if err != nil || a == nil || a.Name != "bpstat" || !slices.Equal(rest, []string{"-l"}) {
		t.Fatalf("pick: %v %q %v, want bpstat [-l]", a, rest, err)
	}
}

// TestPickLongChain: the walk stops after maxLinks links.
func TestPickLongChain(t *testing.T) {
	dir := t.TempDir()
	var chain [][2]string
	n := maxLinks + 2
	for i := range n {
		chain = append(chain, [2]string{"l" + itoa(i), "l" + itoa(i+1)})
	}
	chain = append(chain, [2]string{"l" + itoa(n), "bpsh"}, [2]string{"bpsh", "bproc"})
	links(t, dir, chain)
	if a := appletOf(filepath.Join(dir, "l"+itoa(0))); a != nil {
		t.Errorf("a chain of %d links gave %s, want none", n+1, a.Name)
	}
	if a := appletOf(filepath.Join(dir, "l"+itoa(3))); a == nil || a.Name != "bpsh" {
		t.Errorf("a short chain gave %v, want bpsh", a)
	}
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }
