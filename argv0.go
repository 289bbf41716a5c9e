package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bproc/bproc/applets"
)

// maxLinks bounds the walk along a chain of symlinks, as the kernel's
// ELOOP does (40 in Linux's path walk).
const maxLinks = 40

// appletOf finds the applet a program was started as. argv0's own name
// wins; when it is no applet (bpsh -> bproc-1.2 -> bproc: the middle name
// is a version, not an applet), each link it leads through is tried in
// turn, so the first applet name along the chain is the one the user typed
// or an administrator linked. argv0 without a slash was found in PATH; the
// walk starts from what PATH gives. Nothing is read from the file system
// when argv0 itself names an applet (the common case).
func appletOf(argv0 string) *applets.Applet {
	if a := find(filepath.Base(argv0)); a != nil {
		return a
	}
	p := argv0
	if !strings.Contains(p, "/") {
		var err error
		if p, err = exec.LookPath(p); err != nil {
			return nil
		}
	}
	for range maxLinks {
		target, err := os.Readlink(p)
		if err != nil {
			return nil // not a link (the binary itself), or gone
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		if a := find(filepath.Base(target)); a != nil {
			return a
		}
		p = target
	}
	return nil
}
