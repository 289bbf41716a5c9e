package node

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// A signal relayed from a ghost is timed as a child's end is
// (space_exithold.go): it is the space's own, and one that comes while
// its process waits in a notified call the node has not read yet
// withdraws the call, which fails with EINTR where the process's handler
// has no SA_RESTART (a fork that would have been restarted unseen
// without the filter). So a signal the process catches goes:
//
//   - at once when the process has a notification read and not yet taken
//     by the handler (it waits killably), or sleeps elsewhere than in a
//     notified call or a wait for a child, or is stopped, or gone;
//   - else (it runs, or sleeps in a notification not read yet, or in a
//     wait that its child's end may end as the signal goes, and the
//     process then forks: a loop of fork and wait failed so) when the
//     handler takes a notification of it, by the handler's goroutine
//     before it answers, so that the process waits killably as the
//     signal comes; or once it is seen asleep elsewhere (every holdLook);
//     or after holdMax, unless it then sleeps in a notified call not read
//     yet (the reader is late: a loaded machine), which the signal would
//     fail for sure, and sigHoldMax at most, so that no signal is lost or
//     long delayed.
//
// A signal the process does not catch cannot fail a call (its default
// action ends or stops the process, or does nothing, and the kernel
// restarts the call), nor can SIGKILL and SIGSTOP: those go at once.
// The relay answers the master once the signal is sent, so the signals
// of one process keep their order. What is left: a process with threads
// is watched by its main thread only; a signal the process catches
// waits up to holdMax while it computes without a call.

// sigHoldMax bounds a signal's hold while its process sleeps in a
// notified call not read yet (past holdMax).
const sigHoldMax = 5 * holdMax

// sigHolds is the node's held signals, and the listeners whose read
// notifications say a process waits killably.
type sigHolds struct {
	mu    sync.Mutex
	lists map[*exitHolds]struct{}
	held  map[int][]*heldSig // by the PID signalled
	n     atomic.Int32       // signals held: the handler's look costs nothing without
}

// heldSig is a signal not sent yet.
type heldSig struct {
	once sync.Once
	send func()
	done chan struct{}
}

func (e *heldSig) fire() { e.once.Do(func() { e.send(); close(e.done) }) }

// listen has s ask h whether a process's notification is read; nil
// s (a test's listener) does nothing.
func (s *sigHolds) listen(h *exitHolds) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.lists == nil {
		s.lists = make(map[*exitHolds]struct{})
	}
	s.lists[h] = struct{}{}
	s.mu.Unlock()
}

// forget: h's listener is done.
func (s *sigHolds) forget(h *exitHolds) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.lists, h)
	s.mu.Unlock()
}

// taken: a handler took a notification of tid, which it answers after
// this returns. The signals held for tid are sent now, while tid waits
// killably.
func (s *sigHolds) taken(tid uint32) {
	if s == nil || s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	list := append([]*heldSig(nil), s.held[int(tid)]...) // drop edits the map's
	s.mu.Unlock()
	for _, e := range list {
		e.fire()
	}
}

// send has send deliver sig to pid, now or once pid cannot be in a
// notified call not read yet (up to holdMax). It returns once sent.
func (s *sigHolds) send(pid int, sig syscall.Signal, send func()) {
	if sig == syscall.SIGKILL || sig == syscall.SIGSTOP || !sigCaught(pid, sig) {
		send()
		return
	}
	e := &heldSig{send: send, done: make(chan struct{})}
	s.mu.Lock()
	if s.held == nil {
		s.held = make(map[int][]*heldSig)
	}
	s.held[pid] = append(s.held[pid], e)
	s.n.Add(1)
	s.mu.Unlock()
	defer s.drop(pid, e)
	// Held before the looks: a notification taken from now on sends it.
	since := time.Now()
	for !s.firedRead(pid, e) {
		// Past holdMax a signal waits on only while it would fail a
		// call for sure (one not read yet: the reader is slow), and
		// sigHoldMax at most.
		if holdOver(pid, since, true) && (time.Since(since) >= sigHoldMax || parentState(pid) != parentUnread) {
			e.fire()
			return
		}
		select {
		case <-e.done:
			return
		case <-time.After(holdLook):
		}
	}
}

func (s *sigHolds) drop(pid int, e *heldSig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.held[pid]
	for i := range list {
		if list[i] == e {
			list = append(list[:i], list[i+1:]...)
			s.n.Add(-1)
			break
		}
	}
	if len(list) == 0 {
		delete(s.held, pid)
	} else {
		s.held[pid] = list
	}
}

// firedRead sends e if some listener has a notification of pid read and
// not taken yet, and says whether it did. It sends under that
// listener's lock, which the handler's taken waits for: pid is still
// waiting killably for that answer as the signal comes.
func (s *sigHolds) firedRead(pid int, e *heldSig) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range s.lists {
		if h.ifRead(uint32(pid), e.fire) {
			return true
		}
	}
	return false
}

// sigCaught: pid has a handler for sig (/proc/PID/status SigCgt); also
// when that cannot be read, so that the signal is timed anyway.
func sigCaught(pid int, sig syscall.Signal) bool {
	st, err := procfs.ReadStatus(pid)
	return err != nil || st.SigCgt&(1<<(uint(sig)-1)) != 0
}
