package vmadump

import (
	"fmt"
	"runtime"
	"syscall"
)

// ErrNotPorted is what moving a process (Dump, Restore, and the master's
// move and vrfork) returns where Ported is false. It wraps ENOSYS, whose
// text libbproc turns back into that errno.
var ErrNotPorted = fmt.Errorf("vmadump: remote fork is not ported to %s/%s: %w",
	runtime.GOOS, runtime.GOARCH, syscall.ENOSYS)
