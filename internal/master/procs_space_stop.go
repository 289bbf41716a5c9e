package master

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// childStopped follows the news from p's ghost that SIGSTOP stopped the
// ghost pid, a child of it (a descendant's ghost): a SIGSTOP cannot be
// caught, so that ghost could not relay it, and its process on the node
// stops now too. The SIGCONT that continues the ghost is relayed by the
// ghost itself. The word of a ghost is a user's: the named ghost must be
// a proc of the same user and a child of p's ghost.
func (p *proc) childStopped(pid int) {
	m := p.m
	m.mu.Lock()
	c := m.procs[pid]
	m.mu.Unlock()
	if c == nil || c.job.cred.UID != p.job.cred.UID || ghostParent(pid) != p.pid {
		return
	}
	if c.quietStop() {
		return // the master stopped it again itself (forkWhileStopped)
	}
	c.signal(syscall.SIGSTOP)
}

// stoppedLook is how long a fork waits for its parent's ghost before it
// looks whether that ghost is stopped: a ghost forks its child in a
// millisecond or two.
const stoppedLook = 20 * time.Millisecond

// A fork by a process whose ghost is stopped: the process runs on its
// node (continued there directly, kill -CONT, while its ghost stayed
// stopped by a SIGSTOP sent to it here; or forking in the moment before
// that SIGSTOP reaches it), and a stopped ghost cannot fork its child's
// ghost: the fork failed with EAGAIN after forkWait. The master lets the
// ghost make its child, and leaves it stopped as it found it: it
// continues it (SIGCONT), the ghost forks, and it stops it again
// (SIGSTOP). Neither is its process's: the ghost's relay of that SIGCONT,
// and its parent ghost's news of the new stop, are not passed on
// (quietSignals), so the process on its node runs or stops as it did.

// quietSignals counts, under p.mu, the SIGCONTs and stops of p's ghost
// that the master made itself.
type quietSignals struct {
	cont, stop int
}

// continueStopped continues p's ghost for a fork if it is stopped, and
// reports whether it did.
func (p *proc) continueStopped() bool {
	if !ghostStopped(p.pid) {
		return false
	}
	p.mu.Lock()
	p.quiet.cont++
	p.mu.Unlock()
	if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil {
		p.mu.Lock()
		p.quiet.cont--
		p.mu.Unlock()
		return false
	}
	p.m.log.Info("fork on node by a process whose ghost is stopped: the ghost forks, and stays stopped", "pid", p.pid, "node", p.rank.node)
	return true
}

// stopAgain stops p's ghost again once its fork is done with.
func (p *proc) stopAgain() {
	p.mu.Lock()
	p.quiet.stop++
	p.mu.Unlock()
	if syscall.Kill(p.pid, syscall.SIGSTOP) != nil {
		p.mu.Lock()
		p.quiet.stop--
		p.mu.Unlock()
	}
}

// quietCont: the SIGCONT p's ghost relays is the master's own.
func (p *proc) quietCont() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet.cont == 0 {
		return false
	}
	p.quiet.cont--
	return true
}

// quietStop: the stop of p's ghost its parent ghost tells of is the
// master's own.
func (p *proc) quietStop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet.stop == 0 {
		return false
	}
	p.quiet.stop--
	return true
}

// ghostStopped: pid is stopped by a signal (state T; t, a tracer's
// stop, is not a job control stop and is left to the tracer).
func ghostStopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'T'
}
