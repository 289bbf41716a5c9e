package ghost

import (
	"errors"
	"syscall"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// spawnStart is spawn.Start; a test makes it fail as clone3 can.
var spawnStart = spawn.Start

// noClone3 says whether err is spawn's clone3 refused as such, not a
// failure in the child: ENOSYS inside a node's process space (its filter
// fails clone3, whose flags it cannot read) or before Linux 5.3, EINVAL
// before 5.5 (no CLONE_CLEAR_SIGHAND).
func noClone3(err error) bool {
	var ce *spawn.ChildError
	return err != nil && !errors.As(err, &ce) &&
		(errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL))
}

// forkExecGhost starts the ghost a describes with syscall.ForkExec, as
// ghosts were started before spawn: with clone, which a process space's
// filter lets through (to mirror it), and on any kernel.
func forkExecGhost(a spawn.Attr, cred *syscall.Credential) (int, error) {
	fds := make([]uintptr, len(a.Files))
	for i, fd := range a.Files {
		fds[i] = uintptr(fd) // -1 (closed in the child) is ^uintptr(0)
	}
	return syscall.ForkExec(a.Path, a.Argv, &syscall.ProcAttr{
		Env:   a.Env,
		Files: fds,
		Sys:   &syscall.SysProcAttr{Setpgid: a.Setpgid, Credential: cred},
	})
}
