package master

import (
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
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
	c.mu.Lock()
	c.quietLocked().again = false // this stop is a user's
	c.mu.Unlock()
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
//
// A user's SIGCONT to the ghost while it is continued for a fork is the
// user's: it is relayed as a second SIGCONT (the master's is counted in
// cont, and dropped), and the ghost is then left running rather than
// stopped again. Only a SIGCONT sent while the master's is still pending
// in the ghost (not read from its signalfd yet) cannot be told: the
// kernel keeps one.
type quietSignals struct {
	cont, stop int32
	forks      int32 // forks in progress for which the master continued the ghost
	userCont   bool  // a SIGCONT not the master's was relayed meanwhile
	again      bool  // the ghost's stop is the master's (stopAgain), as far as it knows
	stopAt     time.Time
}

// quietLocked is p's quietSignals, made at its first use: few ghosts
// are ever stopped or continued by the master. Under p.mu.
func (p *proc) quietLocked() *quietSignals {
	if p.quiet == nil {
		p.quiet = &quietSignals{}
	}
	return p.quiet
}

// quietStopFor bounds how long a stop the master made waits for its
// news: a stop that a SIGCONT undid before the parent ghost looked is
// never told, and must not take a user's later stop for the master's.
const quietStopFor = 200 * time.Millisecond

// quietWait bounds how long stopAgain waits for the ghost's relay of the
// master's SIGCONT, which the ghost sends before it forks (it reads its
// signals before its commands): only then are the SIGCONTs counted.
const quietWait = 20 * time.Millisecond

// continueStopped continues p's ghost for a fork if it is stopped, and
// reports whether it did.
func (p *proc) continueStopped() bool {
	if !ghostStopped(p.pid) {
		return false
	}
	p.mu.Lock()
	q := p.quietLocked()
	q.cont++
	q.forks++
	q.again = false
	p.mu.Unlock()
	if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil {
		p.mu.Lock()
		q.cont--
		q.forks--
		p.mu.Unlock()
		return false
	}
	p.m.log.Info("fork on node by a process whose ghost is stopped: the ghost forks, and stays stopped", "pid", p.pid, "node", p.rank.node)
	return true
}

// stopAgain stops p's ghost again once its fork is done with, unless a
// user continued it meanwhile (their SIGCONT relayed), or stopped it
// (its stop relayed already: a second would be counted and not come).
func (p *proc) stopAgain() {
	for deadline := time.Now().Add(quietWait); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		seen := p.quietLocked().cont == 0
		p.mu.Unlock()
		if seen || time.Now().After(deadline) {
			break
		}
	}
	// A SIGCONT pending in the ghost, not read yet, is a user's (the
	// master's was relayed): a SIGSTOP now would erase it (the kernel
	// drops a pending SIGCONT as it queues a stop).
	stopped, userCont := ghostStopped(p.pid), contPending(p.pid)
	p.mu.Lock()
	q := p.quietLocked()
	q.forks--
	user := q.userCont || userCont
	if q.forks == 0 {
		q.userCont = false
	}
	if user || stopped {
		p.mu.Unlock()
		if user {
			p.m.log.Info("ghost continued by its user during a fork: left running", "pid", p.pid)
		}
		return
	}
	q.stop++
	q.again = true
	q.stopAt = time.Now()
	p.mu.Unlock()
	if syscall.Kill(p.pid, syscall.SIGSTOP) != nil {
		p.mu.Lock()
		q.stop--
		q.again = false
		p.mu.Unlock()
	}
}

// quietCont: the SIGCONT p's ghost relays is the master's own. One past
// the master's count while it continued the ghost for a fork is a
// user's: the ghost stays continued (stopAgain).
//
// A user's SIGCONT whose relay the master reads only once it has stopped
// the ghost again came before that stop (the ghost relays what it
// receives in order, and it was running): the ghost is continued again,
// quietly, as its user wanted.
func (p *proc) quietCont() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.quiet
	if q == nil {
		return false // the master never stopped nor continued it
	}
	if q.cont == 0 {
		if q.forks > 0 {
			q.userCont = true
		}
		if q.again {
			// Whether the master's SIGSTOP has acted yet or not: a
			// SIGCONT discards a pending stop.
			q.again = false
			q.cont++
			if syscall.Kill(p.pid, syscall.SIGCONT) != nil {
				q.cont--
			}
		}
		return false
	}
	q.cont--
	return true
}

// quietStop: the stop of p's ghost its parent ghost tells of is the
// master's own.
func (p *proc) quietStop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.quiet
	if q == nil {
		return false // the master never stopped it
	}
	if q.stop > 0 && time.Since(q.stopAt) > quietStopFor {
		q.stop = 0 // undone before it was told
	}
	if q.stop == 0 {
		return false
	}
	q.stop--
	return true
}

// ghostStopped: pid is stopped by a signal (state T; t, a tracer's
// stop, is not a job control stop and is left to the tracer).
func ghostStopped(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.Stopped()
}

// contPending: SIGCONT is pending for pid, not read from its signalfd
// yet (/proc/PID/status ShdPnd: sent to the process).
func contPending(pid int) bool {
	st, err := procfs.ReadStatus(pid)
	return err == nil && st.ShdPnd&(1<<(syscall.SIGCONT-1)) != 0
}
