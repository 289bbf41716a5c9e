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
	c.signal(syscall.SIGSTOP)
}

// stoppedLook is how long a fork waits for its parent's ghost before it
// looks whether that ghost is stopped: a ghost forks its child in a
// millisecond or two.
const stoppedLook = 20 * time.Millisecond

// followRunning continues p's ghost if it is stopped while its process
// runs on the node: the process forks, so it runs (continued on the node
// directly, kill -CONT there, while its ghost stayed stopped by a SIGSTOP
// sent to it here), and a stopped ghost cannot fork its child's ghost:
// the fork failed with EAGAIN after forkWait. The ghost follows its
// process: the SIGCONT continues it, and it relays that SIGCONT as any
// other, after whatever it relayed before (so a SIGSTOP still on its way
// to the node is undone, and ghost and process run alike).
func (p *proc) followRunning() {
	if !ghostStopped(p.pid) {
		return
	}
	p.m.log.Info("fork on node by a process whose ghost is stopped: continuing the ghost", "pid", p.pid, "node", p.rank.node)
	syscall.Kill(p.pid, syscall.SIGCONT)
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
