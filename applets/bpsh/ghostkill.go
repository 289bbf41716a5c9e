package bpsh

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// killGhost sends sig to pid, a ghost of bpsh's own (its child), with
// kill: the ghost holds it until the master watches it, then relays it
// (a kill is relayed even by a Forwarded ghost). For when the master
// cannot take the signal by the ghost's PID: it is away, or has not yet
// had the ghost's hello (the ghost is not its process yet, and a signal
// sent as bpsh starts was lost so: TestSignalBpshAtStart). By a pidfd,
// and only while pid is still bpsh's child: the reaper may have reaped
// the ghost meanwhile, and its PID be another process's.
func killGhost(pid int, sig syscall.Signal) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if parentOf(pid) != os.Getpid() {
		return // not the ghost the fd was opened for
	}
	unix.PidfdSendSignal(fd, sig, nil, 0)
}

// parentOf is pid's parent's PID from /proc, or 0.
func parentOf(pid int) int {
	st, _ := procfs.ReadStat(pid)
	return st.PPid
}
