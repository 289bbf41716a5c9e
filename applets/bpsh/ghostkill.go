package bpsh

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nPPid:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	ppid, _ := strconv.Atoi(string(bytes.TrimSpace(line)))
	return ppid
}
