package master

import "syscall"

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
