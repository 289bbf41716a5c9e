package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// Finding a fork's child. The supervisor steers the kernel to the ghost's
// PID (ns_last_pid), but that number is the whole namespace's next one:
// a thread or process made anywhere in it between the write and the
// fork (bpslave's or the view's Go threads, a remote program's threads,
// a process outside the space) takes it first, and the child gets a later
// one. The child is then found among its parent's children: the ones
// there after the fork that were not before it. Nothing else can add a
// child meanwhile: the parent's other forks are notified on the same
// listener and wait for this one, and so do its waits, so no child of it
// is reaped either (an adopted orphan of a subreaper is the exception,
// and is told apart by its parent being the subreaper only if it forks).

// errNoChild: the fork is over and made no child (it failed: EAGAIN,
// ENOMEM, or the caller was killed).
var errNoChild = errors.New("the fork made no child")

// forkCall is one notified fork, seen from the supervisor.
type forkCall struct {
	tid    int           // the calling thread
	nr     int32         // its system call
	parent int           // the process whose child the fork makes
	before map[int]bool  // parent's children before the fork
	poke   chan struct{} // a notification of the tree came: look now
	single bool          // parent had one thread, the caller (see children)
	// again: the calling thread has made another notified call since
	// (space_queue.go), so this one is over.
	again func() bool
}

// find waits for the fork's child: at steer if that is not 0 and the
// child got it, else the new one among the parent's children. It returns
// a pidfd of the child and its PID. It stops as soon as the calling
// thread is seen out of the fork with no new child (errNoChild), and
// after childWait at the latest.
func (fc *forkCall) find(steer int) (int, int, error) {
	deadline := time.Now().Add(childWait)
	full := steer == 0 // see fullLook
	// The first look waits for a poke or the first delay: the fork was let
	// go a moment ago, and the caller has not run since (a look then
	// failed, a pidfd_open, on every fork).
	first := steer > 0
	for delay := 20 * time.Microsecond; ; delay = min(2*delay, time.Millisecond) {
		if first {
			first = false
			if fc.nap(delay) {
				delay, full = 10*time.Microsecond, true
			}
		}
		if steer > 0 {
			if fd, ok := fc.childAt(steer); ok {
				return fd, steer, nil
			}
		}
		if !full && delay < fullLook {
			if fc.nap(delay) {
				delay, full = 10*time.Microsecond, true
			} else {
				full = delay*2 >= fullLook
			}
			continue
		}
		// Read whether the call is over before the children: a child
		// made just after the first look is seen by the second.
		over := fc.over()
		if fd, pid, err := fc.newChild(); err != nil || fd >= 0 {
			// The parent may have exited at once since the look at
			// steer, leaving the child there to the namespace's init.
			if fd < 0 && steer > 0 {
				if fd, ok := fc.childAt(steer); ok {
					return fd, steer, nil
				}
			}
			return fd, pid, err
		}
		if over {
			// The call returned and the parent shows no new child: a
			// parent that exited at once has left it to the
			// namespace's init, at steer, since the first look.
			if steer > 0 {
				if fd, ok := fc.childAt(steer); ok {
					return fd, steer, nil
				}
			}
			return -1, 0, errNoChild
		}
		if time.Now().After(deadline) {
			return -1, 0, fmt.Errorf("no child of PID %d after %v", fc.parent, childWait)
		}
		if fc.nap(delay) {
			delay = 10 * time.Microsecond // doubled to the first delay
			full = true
		}
	}
}

// childAt: pid is the parent's child (or an orphan of it already, when
// the parent exited at once: sh -c 'daemon &'); held by the returned pidfd.
func (fc *forkCall) childAt(pid int) (int, bool) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return -1, false
	}
	if pp, err := pidfd.Parent(fd, pid); err == nil && (pp == fc.parent || pp == 1 && !alive(fc.parent)) {
		return fd, true
	}
	unix.Close(fd)
	return -1, false
}

// newChild is the child of the parent's that was not there before: fd
// -1 and no error while there is none.
func (fc *forkCall) newChild() (int, int, error) {
	now, err := fc.children()
	if err != nil {
		// The parent is gone, and a child of this fork with it to the
		// namespace's init, where it cannot be told apart.
		return -1, 0, fmt.Errorf("parent %d gone before its child was found: %w", fc.parent, err)
	}
	for c := range now {
		if fc.before[c] {
			continue
		}
		if fd, ok := fc.childAt(c); ok {
			return fd, c, nil
		}
	}
	return -1, 0, nil
}

// over: the calling thread is out of the fork. /proc/TID/syscall names
// the call a blocked task is in, and says "running" while it runs (still
// in the fork, maybe); another call, or none (-1), means the fork has
// returned. A thread that is gone is out of it too.
func (fc *forkCall) over() bool {
	if fc.again != nil && fc.again() {
		return true
	}
	var buf [128]byte
	b, err := procfs.Read(fc.tid, "syscall", buf[:])
	if err != nil {
		return true
	}
	f, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	nr, err := strconv.Atoi(f)
	return err == nil && nr != int(fc.nr)
}
