package master

import "syscall"

// A process's signals wait on the master while its node delivers the one
// before (the process's sender, send) or while its node is away (hold).
// A node holds a signal its process catches up to 20 ms, so that it fails
// no fork (node space_sighold.go): a user sending such a process
// signals faster than that, or sending them while its node is away, would
// grow the master's memory without end. Past maxQueuedSignals waiting for
// one process, a signal is dropped, and said so in the log (one line per
// user and interval): the kernel merges a standard signal that is pending
// already, and refuses queued signals past RLIMIT_SIGPENDING, so a
// process could not count on such a flood either.
const maxQueuedSignals = 256

// queueSignal counts a signal into p's sender queue, if there is room.
func (p *proc) queueSignal() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sigs >= maxQueuedSignals {
		return false
	}
	p.sigs++
	return true
}

// unqueueSignal: a queued signal is on its way.
func (p *proc) unqueueSignal() {
	p.mu.Lock()
	p.sigs--
	p.mu.Unlock()
}

// droppedSignal logs a signal dropped for want of room.
func (p *proc) droppedSignal(sig syscall.Signal) {
	p.m.warns.Warn(p.m.log.With("pid", p.pid), p.job.cred.UID, "signal dropped: too many waiting for the process", "signal", sig.String(), "waiting", maxQueuedSignals)
}
