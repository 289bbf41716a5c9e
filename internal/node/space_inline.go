package node

import (
	"time"

	"golang.org/x/sys/unix"
)

// Answering in the reading thread. Every notification used to go from
// the thread that read it (space_queue.go) to the handler goroutine
// (serveListener) over a channel: a goroutine's wake-up, and often an OS
// thread's, per call, which the calling process waits through. Most
// calls of a fork-heavy loop need nothing that blocks: a wait4 or waitid
// is let go at once, an execve, setpgid or setsid once its process's
// state is read (mirror). The reader answers those itself when the
// handler is idle: nothing queued or being handled, the last fork's
// child held (its forkDone done), nothing carried for the thread and no
// exit held for it (exitHolds.taken would wait for those). The order of
// the tree's answers is then the same as through the handler, which
// takes nothing meanwhile: only the reader gives it work.
//
// A fork (it asks the master) and an exit (it may wait for the process
// to be gone) still go to the handler, as does anything while the handler
// is busy.

// inlineCall: n's call is answered without blocking by handle.
func inlineCall(n *seccompNotif) bool {
	switch int(n.nr) {
	case unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_SETPGID, unix.SYS_SETSID:
		return true
	}
	return false
}

// deliver answers n in the reading thread if it can (above), else hands
// it to the handler.
//
// The call of a fork's own child (a vfork's child's execve, most often)
// finds the finder still looking: the fork was let go a moment ago. The
// child calling is there, so the finder, poked, holds it at once; the
// reader waits for that rather than handing the call to the handler,
// whose wake-up behind the node's other goroutines (a relay's records,
// the SSH writer) was 0.1-0.4 ms of the child's path.
func (sp *space) deliver(l int, n *seccompNotif, q *callQueue) {
	if !inlineCall(n) {
		q.read(n)
		return
	}
	if d := q.childCalls(n); d != nil {
		d.settleWithin(childSettle)
	}
	if !q.claim(n) {
		q.read(n)
		return
	}
	q.exits.read(n.pid)
	q.exits.taken(n.pid) // nothing held for it: claim made sure
	q.handled(sp.handle(l, n, q))
}

// claim makes the reader n's handler if the handler is idle; the caller
// then calls handled. n is counted as read (calls) if claimed.
func (q *callQueue) claim(n *seccompNotif) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy > 0 || !q.last.over() || q.carry[n.pid] != nil || q.exits.holds(n.pid) {
		return false
	}
	q.busy++
	q.calls[n.pid]++
	return true
}

// childSettle bounds the reader's wait for a fork's child: one look
// finds a child that calls; a caller that only has the steered PID (a
// thread that took it) leaves the finder looking, and its call to the
// handler, with the reader back to reading.
const childSettle = time.Millisecond

// settleWithin is settle for at most max; whether d is over.
func (d *forkDone) settleWithin(max time.Duration) bool {
	select {
	case d.poke <- struct{}{}:
	default:
	}
	select {
	case <-d.done:
		return true
	default:
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-d.done:
		return true
	case <-t.C:
		return false
	}
}

// childCalls returns the fork answered last if n's caller is its child,
// at the steered PID, and the handler is idle: only the child's look is
// left before n may be answered here.
func (q *callQueue) childCalls(n *seccompNotif) *forkDone {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d := q.last; q.busy == 0 && d != nil && d.steer > 0 && d.steer == int(n.pid) {
		return d
	}
	return nil
}

// childState is the state of n's caller if it is the child of the fork
// answered just before n, held, and its parent's state was read at the
// fork: a child's group, session and argument area are its parent's
// until it calls (setpgid of it by its parent, or by it, is a
// notification in between). Nil if not known.
func (q *callQueue) childState(n *seccompNotif) *procState {
	q.mu.Lock()
	d := q.last
	q.mu.Unlock()
	if d == nil || !d.known || !d.over() || d.child != int(n.pid) {
		return nil
	}
	st := d.parent
	return &st
}

// handled: a notification is done with; d is its fork's child search, if
// any, which the next notification waits for.
func (q *callQueue) handled(d *forkDone) {
	q.mu.Lock()
	q.busy--
	q.last = d
	q.mu.Unlock()
}

// over: d's child is held or known lost (nil: no fork).
func (d *forkDone) over() bool {
	if d == nil {
		return true
	}
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// holds: an exit of a child of tid is held (space_exithold.go).
func (h *exitHolds) holds(tid uint32) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held[int(tid)]) > 0
}
