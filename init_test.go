package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPackagesInitNothing: every run of the binary, bpsh's included, runs
// the initialiser of every package linked into it, whether the applet uses
// the package or not. So none of ours may allocate there: a map, a
// regexp, an fmt.Errorf or a strings.Replacer at package level is made at
// its first use instead (a slice, a switch or a sync.Once). The root
// package's own table (main.go) is the exception. What the initialisers
// do, GODEBUG=inittrace=1 shows; here it runs this test binary, which
// links the same packages.
func TestPackagesInitNothing(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GODEBUG=") }),
		"GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -test.run=^$: %v\n%s", os.Args[0], err, out)
	}
	line := regexp.MustCompile(`(?m)^init (github\.com/bproc/bproc/\S+) @.*, (\d+) bytes, (\d+) allocs$`)
	seen := 0
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		seen++
		if m[3] != "0" {
			t.Errorf("package %s allocates %s bytes in %s allocations as the binary starts", m[1], m[2], m[3])
		}
	}
	if !strings.Contains(string(out), "init runtime @") {
		t.Fatalf("no inittrace output:\n%s", out)
	}
	t.Logf("%d of our packages have an initialiser, none allocating", seen)
}
