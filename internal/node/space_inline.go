package node

import "golang.org/x/sys/unix"

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
func (sp *space) deliver(l int, n *seccompNotif, q *callQueue) {
	if !inlineCall(n) || !q.claim(n) {
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
