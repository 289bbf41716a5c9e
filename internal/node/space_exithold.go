package node

import (
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// A child's end is held back while its parent might be about to make a
// notified call that bpslave has not read yet.
//
// A notified call waits for its answer interruptibly until bpslave has
// read it (killably after, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV). A
// signal in between withdraws it: the kernel returns -ERESTARTSYS, which
// a handler without SA_RESTART turns into EINTR, where the kernel
// restarts a fork without the filter (-ERESTARTNOINTR) unseen. Nothing
// makes the kernel restart the withdrawn call, and the window cannot be
// made empty: it spans a wake-up and a context switch of the reading
// thread. The signal that falls into it is most often the SIGCHLD of a
// child that ends as its shell forks the next one (dash's loop of
// `cmd &`: "sh: Cannot fork"). That signal is the space's own: a child
// ends by its exit_group, which bpslave answers, and the kernel sends
// SIGCHLD some time after, once the child has run its end.
//
// So a child's exit_group is answered only where its parent's SIGCHLD
// cannot withdraw a call:
//
//   - the parent has a notification read and not answered: it waits
//     killably, and the handler answers that one only once the child is
//     gone (endWait), its SIGCHLD sent;
//   - the parent sleeps in a wait for a child (a wait4 let go): the
//     kernel sends SIGCHLD before it wakes the wait;
//   - the parent sleeps in another call that is not notified (a read): a
//     signal there is the program's own business, as without the filter;
//     the handler waits for the child to be gone, as the parent may wake
//     before the SIGCHLD (the child's end closes a pipe first) and fork;
//   - else (it runs and may enter a fork at any moment, or it sleeps in a
//     notification not read yet) the exit is held until the handler takes
//     a notification of the parent, or the parent is seen asleep
//     elsewhere (every holdLook), or holdMax has passed.
//
// What is left: SIGCHLD of a child that ends by a signal (no call), any
// other signal (a timer, a kill from outside the space or from a ghost),
// a parent that wakes from its sleep and forks within the child's end,
// and a parent with threads, watched by its main thread only.

// holdLook is how often a held exit looks at its parent again.
const holdLook = time.Millisecond

// holdMax bounds how long a child's end waits for its parent: a parent
// that computes for long without a call delays its child's SIGCHLD and
// its wait's result so long at most.
const holdMax = 20 * time.Millisecond

// endWait bounds how long the handler waits for a child let go to be
// gone (its SIGCHLD sent): an end that takes longer (a large memory to
// free, a disk that hangs) is let run alone.
const endWait = 100 * time.Millisecond

// exitHolds is one listener's held exits and what decides them.
type exitHolds struct {
	answer func(id uint64) // lets the notified call go on
	sigs   *sigHolds       // the node's relayed signals (space_sighold.go), timed the same way

	mu      sync.Mutex
	queued  map[uint32]int      // notifications read, not yet taken by the handler, by thread
	forkers map[int]bool        // processes that forked through this listener
	held    map[int][]*heldExit // by the parent's PID
	noWait  map[int]noWaitNote  // processes whose SIGCHLD has SA_NOCLDWAIT (space_nocldwait.go)
	closed  bool
}

// heldExit is a child's exit_group not answered yet.
type heldExit struct {
	tid   uint32
	id    uint64
	since time.Time
}

func newExitHolds(answer func(id uint64), sigs *sigHolds) *exitHolds {
	h := &exitHolds{answer: answer, sigs: sigs, queued: make(map[uint32]int),
		forkers: make(map[int]bool), held: make(map[int][]*heldExit)}
	sigs.listen(h)
	return h
}

// ifRead runs f, under h's lock, if a notification of tid is read and
// not yet taken by the handler, and says whether it did: tid waits for
// its answer killably, and taken waits for f.
func (h *exitHolds) ifRead(tid uint32, f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.queued[tid] <= 0 {
		return false
	}
	f()
	return true
}

// read counts a notification of tid as read (the reading thread).
func (h *exitHolds) read(tid uint32) {
	h.mu.Lock()
	h.queued[tid]++
	h.mu.Unlock()
}

// taken: the handler took a notification of tid, which it answers
// before it takes the next. The exits held for tid (a parent's main
// thread) go now, and are waited for: their SIGCHLD comes while the
// parent waits killably for that answer; so do the signals relayed to
// tid.
func (h *exitHolds) taken(tid uint32) {
	h.sigs.taken(tid)
	h.mu.Lock()
	if h.queued[tid]--; h.queued[tid] <= 0 {
		delete(h.queued, tid)
	}
	list := h.held[int(tid)]
	delete(h.held, int(tid))
	h.mu.Unlock()
	for _, e := range list {
		h.end(e.tid, e.id, true)
	}
}

// forker notes that pid forks through this listener: its children's
// ends may be held.
func (h *exitHolds) forker(pid int) {
	h.mu.Lock()
	h.forkers[pid] = true
	h.mu.Unlock()
}

// exit answers the exit_group id of thread tid (the handler), now or once
// its parent cannot be in a notified call not read yet.
func (h *exitHolds) exit(tid uint32, id uint64) {
	// The process's pidfd tells its parent (no /proc read), and is the
	// one end waits on.
	fd, pid, err := processFd(tid)
	ppid := 0
	if err == nil {
		ppid, err = pidfd.Parent(fd, pid)
	} else if !errors.Is(err, unix.ESRCH) {
		ppid, err = ppidOf(int(tid)) // a thread's is its process's
	}
	used := false
	defer func() {
		if fd >= 0 && !used {
			unix.Close(fd)
		}
	}()
	h.mu.Lock()
	delete(h.forkers, int(tid)) // its own children go to a reaper
	delete(h.noWait, int(tid))
	forker := err == nil && h.forkers[ppid] && !h.closed
	waiting := h.queued[uint32(ppid)] > 0
	h.mu.Unlock()
	if !forker {
		h.answer(id)
		return
	}
	if waiting {
		used = true
		h.endFd(fd, pid, id)
		return
	}
	switch parentState(ppid) {
	case parentWaits:
		// The kernel sends SIGCHLD before it wakes a wait: the
		// parent's next call comes after it.
		h.answer(id)
		return
	case parentAsleep:
		used = true
		h.endFd(fd, pid, id)
		return
	}
	e := &heldExit{tid: tid, id: id, since: time.Now()}
	h.mu.Lock()
	// Looked again under the lock: the parent's notification may have
	// been read meanwhile, which the handler (this goroutine) takes
	// after this one.
	if h.closed {
		h.mu.Unlock()
		h.answer(id)
		return
	}
	h.held[ppid] = append(h.held[ppid], e)
	h.mu.Unlock()
	time.AfterFunc(holdLook, func() { h.look(ppid, e) })
}

// end answers the exit_group of tid and, with wait, waits until the
// process is gone, that is until its SIGCHLD is sent (up to endWait).
func (h *exitHolds) end(tid uint32, id uint64, wait bool) {
	if !wait {
		h.answer(id)
		return
	}
	fd, pid, _ := processFd(tid)
	h.endFd(fd, pid, id)
}

// processFd opens a pidfd of thread tid's process: fd -1 with an error if
// it is gone, or cannot be told.
func processFd(tid uint32) (fd, pid int, err error) {
	pid = int(tid)
	fd, err = unix.PidfdOpen(pid, 0)
	if err == unix.EINVAL { // not the leader: the process's
		if pid, err = tgidOf(pid); err == nil {
			fd, err = unix.PidfdOpen(pid, 0)
		}
	}
	if err != nil {
		return -1, pid, err
	}
	return fd, pid, nil
}

// endFd answers the exit_group id of fd's process pid and waits until
// the process is gone (up to endWait); it closes fd (-1: answers only).
func (h *exitHolds) endFd(fd, pid int, id uint64) {
	h.answer(id)
	if fd < 0 {
		return // gone already, or it cannot be told
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(endWait)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		k, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || k > 0 {
			break
		}
	}
	// The pidfd is readable as the kernel tells the parent, just before
	// the signal is queued: once the process is a zombie, or reaped, it
	// is.
	for time.Now().Before(deadline) && alive(pid) {
		time.Sleep(20 * time.Microsecond)
	}
}

// look lets e go once its parent sleeps elsewhere than in a notified
// call, or is gone, or holdMax has passed; else it looks again later.
func (h *exitHolds) look(ppid int, e *heldExit) {
	done := holdOver(ppid, e.since, false)
	h.mu.Lock()
	list := h.held[ppid]
	i := 0
	for i < len(list) && list[i] != e {
		i++
	}
	if i == len(list) {
		h.mu.Unlock()
		return // let go already
	}
	if !done {
		h.mu.Unlock()
		time.AfterFunc(holdLook, func() { h.look(ppid, e) })
		return
	}
	list = append(list[:i], list[i+1:]...)
	if len(list) == 0 {
		delete(h.held, ppid)
	} else {
		h.held[ppid] = list
	}
	h.answer(e.id) // under mu: close may not have passed
	h.mu.Unlock()
}

// holdOver: what is held for pid since then may go, as pid sleeps
// elsewhere than in a notified call, or is gone, or holdMax has passed.
// With notWaiting, a sleep in a wait for a child does not count: a
// child's end may wake it at any moment (a relayed signal's case; a
// held exit's SIGCHLD comes before the wait ends).
func holdOver(pid int, since time.Time, notWaiting bool) bool {
	if time.Since(since) >= holdMax {
		return true
	}
	switch parentState(pid) {
	case parentAsleep:
		return true
	case parentWaits:
		return !notWaiting
	}
	return false
}

// close lets every held exit go: the listener ends.
func (h *exitHolds) close() {
	h.sigs.forget(h)
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, list := range h.held {
		for _, e := range list {
			h.answer(e.id)
		}
		delete(h.held, p)
	}
	h.closed = true
}

// How a parent is, for its child's end.
const (
	parentMayCall = iota // runs, or sleeps in a notified call read (killably)
	parentUnread         // sleeps in a notified call not read yet (interruptibly)
	parentWaits          // sleeps in a wait for a child (do_wait)
	parentAsleep         // sleeps in another call, or is gone
)

// parentState says whether pid runs (it may enter a notified call at any
// moment) or sleeps in a notified call, which holds its child's end; or
// sleeps elsewhere, or is gone, which does not.
//
// wchan is read first: the kernel names a function there only for a task
// asleep at that moment (0 while it runs), so a parent asleep in a wait or
// elsewhere (the fork loop's case: its wait4 let go) is told by one read.
// The state is read after only where it decides: a notified call (S: not
// read yet; D: read, answered any moment), or wchan 0 (running, or an
// end: a zombie or a task gone counts as asleep).
func parentState(pid int) int {
	var wb [128]byte
	w, err := procfs.Read(pid, "wchan", wb[:])
	if err != nil {
		return parentAsleep // gone
	}
	notif := strings.HasPrefix(string(w), "seccomp_do_user_notif")
	switch {
	case string(w) == "do_wait":
		return parentWaits
	case !notif && string(w) != "0":
		return parentAsleep
	}
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return parentAsleep
	}
	switch st.State {
	case 'R':
		return parentMayCall
	case 'S', 'D':
		// Read after wchan: woken since, it runs (a notified call
		// read waits in D, killably; it may be answered any moment,
		// which a notification read and not taken, the handler's
		// lock, tells safely).
		if notif && st.State == 'S' {
			return parentUnread
		}
		return parentMayCall
	}
	return parentAsleep
}

// mayCallUnread: pid may be in, or enter, a notified call not read yet.
func mayCallUnread(pid int) bool {
	st := parentState(pid)
	return st == parentMayCall || st == parentUnread
}
