package master

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// The master answers a run from a node with its ranks' ghost PIDs as soon
// as it has started the ghosts (startNodeGhosts), before they have said
// their hellos: until then a ghost is no process of the master's tables,
// and OpSignal by its PID found none ("Invalid process ID"), which bpsh
// on the node, passing a SIGINT on, could only drop. Such a signal goes
// to the ghost itself instead, which holds it until the master watches
// it, then relays it, as it does a kill.

// nodeGhost is a ghost the master started for a caller on a node, until
// the master has reaped it.
type nodeGhost struct {
	uid   uint32
	pidfd int // the ghost, whatever its PID becomes once reaped
}

// addGhost records pid, a ghost just started for uid and not reaped, by
// a pidfd. A ghost without one is only not signalled before its hello.
func (nr *nodeRuns) addGhost(pid int, uid uint32) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	nr.mu.Lock()
	defer nr.mu.Unlock()
	if nr.ghosts == nil {
		nr.ghosts = map[int]nodeGhost{}
	}
	nr.ghosts[pid] = nodeGhost{uid: uid, pidfd: fd}
}

// ghostReaped forgets pid, reaped.
func (nr *nodeRuns) ghostReaped(pid int) {
	nr.mu.Lock()
	defer nr.mu.Unlock()
	if g, ok := nr.ghosts[pid]; ok {
		unix.Close(g.pidfd)
		delete(nr.ghosts, pid)
	}
}

// signalGhost sends sig to pid if it is a ghost started for a caller on
// a node whom cred may signal (kill(2)'s rule, as signalRequest's), and
// says whether it did. Under nr.mu: the pidfd is not closed meanwhile.
func (nr *nodeRuns) signalGhost(cred localapi.Cred, pid int, sig syscall.Signal) bool {
	nr.mu.Lock()
	defer nr.mu.Unlock()
	g, ok := nr.ghosts[pid]
	if !ok || cred.UID != 0 && cred.UID != g.uid {
		return false
	}
	return unix.PidfdSendSignal(g.pidfd, sig, nil, 0) == nil
}
