package vmadump

import (
	"runtime"
	"syscall"
)

// ErrNotPorted is what moving a process (Dump, Restore, and the master's
// move and vrfork) returns where Ported is false. It wraps ENOSYS, whose
// text libbproc turns back into that errno.
// (A type of its own: an fmt.Errorf here would run at every start of the
// binary, bpsh's too.)
var ErrNotPorted error = notPorted{}

type notPorted struct{}

func (notPorted) Error() string {
	return "vmadump: remote fork is not ported to " + runtime.GOOS + "/" + runtime.GOARCH + ": " + syscall.ENOSYS.Error()
}

func (notPorted) Unwrap() error { return syscall.ENOSYS }
