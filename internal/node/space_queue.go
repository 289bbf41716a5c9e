package node

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A listener's notifications are read as soon as they come and answered
// in order by another goroutine (serveListener, handle). Reading at once
// matters for two reasons:
//
//   - a notified call waits for its answer interruptibly until the
//     supervisor has read it (and only killably after that, with
//     SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV): a signal meanwhile, such
//     as a child's SIGCHLD to a shell whose next fork waits behind the
//     last one, made that fork fail with EINTR ("sh: Cannot fork").
//   - a fork let go (CONTINUE) that finds a signal pending is restarted
//     by the kernel (ERESTARTNOINTR) before it makes a child, and comes
//     back as a new notification. From /proc the caller looks as if
//     still in the first fork, and the supervisor waited childWait for a
//     child that would not come. A notification read from the same
//     thread tells that the first call is over (forkCall.over).
//
// A fork found restarted keeps its ghost for the thread's next fork
// (carry): the master has made it already, and a phantom that ends by
// SIGKILL would tell of a process that never was.

// callQueue is one listener's notifications read and not yet answered.
type callQueue struct {
	ch chan *seccompNotif

	exits *exitHolds // space_exithold.go

	mu    sync.Mutex
	calls map[uint32]uint64 // notifications read, by calling thread
	carry map[uint32]*carried
	// busy counts notifications given to a handler and not yet done
	// with; last is the fork answered last (space_inline.go).
	busy int
	last *forkDone
}

// carried is the ghost of a fork that its thread must make again.
type carried struct {
	pid int
	t   *tracked
}

func newCallQueue(exits *exitHolds) *callQueue {
	return &callQueue{ch: make(chan *seccompNotif, 1024), exits: exits, calls: make(map[uint32]uint64), carry: make(map[uint32]*carried)}
}

// read counts n as read; the handler gets it from ch.
func (q *callQueue) read(n *seccompNotif) {
	q.mu.Lock()
	q.calls[n.pid]++
	q.busy++
	q.mu.Unlock()
	q.exits.read(n.pid)
	q.ch <- n
}

// done forgets n's thread when it has nothing in the queue and nothing
// carried: the map stays as small as the threads in calls.
func (q *callQueue) done(n *seccompNotif, seen uint64) {
	q.mu.Lock()
	if q.calls[n.pid] == seen && q.carry[n.pid] == nil {
		delete(q.calls, n.pid)
	}
	q.mu.Unlock()
}

// seen is how many notifications of tid were read so far.
func (q *callQueue) seen(tid uint32) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls[tid]
}

// keep carries a restarted fork's ghost to its thread's next call.
func (q *callQueue) keep(tid uint32, c *carried) {
	q.mu.Lock()
	q.carry[tid] = c
	q.mu.Unlock()
}

// take returns what n's thread carries, if anything: for a fork, to be
// used; for any other call, it is settled here (the fork failed: EINTR,
// or the thread went on) and nil is returned.
func (q *callQueue) take(n *seccompNotif) *carried {
	q.mu.Lock()
	c := q.carry[n.pid]
	delete(q.carry, n.pid)
	q.mu.Unlock()
	if c == nil {
		return nil
	}
	if forkNr(n) {
		return c
	}
	c.t.err = errNoChild
	close(c.t.ready)
	return nil
}

// settle ends every carried fork: the listener is done.
func (q *callQueue) settle() {
	q.exits.close()
	q.mu.Lock()
	defer q.mu.Unlock()
	for tid, c := range q.carry {
		c.t.err = errNoChild
		close(c.t.ready)
		delete(q.carry, tid)
	}
}

// blockingReaders counts the threads blocked in NOTIF_RECV, one per
// listener, up to maxBlockingReaders: Go ends a program that makes more
// than 10,000 threads. (A counter, not a channel: nothing is made as the
// binary starts.)
var blockingReaders atomic.Int32

const maxBlockingReaders = 1000

// readListener reads l's notifications into q until every process of its
// tree is gone. It blocks in NOTIF_RECV, a thread of its own for each
// listener, rather than parking in Go's poller: a notification is read
// in the kernel as soon as the reading thread runs, where the poller
// would first wake a goroutine and wait for a P, the window in which a
// signal made a fork fail. With SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
// (Linux 6.6) the notifying task hands its CPU to the reader.
//
// Threads are bounded (blockingReaders): past that many listeners at once
// the rest are read from Go's poller, once ready, as all were before.
func (sp *space) readListener(l int, q *callQueue) error {
	if blockingReaders.Add(1) > maxBlockingReaders {
		blockingReaders.Add(-1)
		return pollListener(l, q)
	}
	defer blockingReaders.Add(-1)
	unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	for {
		n := new(seccompNotif)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
		switch e {
		case 0:
			sp.deliver(l, n, q) // space_inline.go
			// Whatever that readied (the handler, a watch's goroutine)
			// sits in this P's run queue: run it here, and let the
			// reader go back to NOTIF_RECV from another P. Else the P
			// blocks in that ioctl with work queued, which an idle
			// thread steals only after a nap (usleep(3)), or sysmon
			// takes at its next look; each such take resets sysmon
			// to naps of 20 µs, which were 35-40% of bpslave's CPU
			// in a fork loop (65,000 naps and 4,800 takes over 2,000
			// iterations of `sh -c 'for ...; do /bin/true; done'`;
			// 900 and 8 with this).
			runtime.Gosched()
		case unix.EINTR:
		case unix.ENOENT:
			// The caller was killed meanwhile, or every process of the
			// tree is gone (Linux 6.6 and later wake a reader then).
			pfd := []unix.PollFd{{Fd: int32(l), Events: unix.POLLIN}}
			if k, _ := unix.Poll(pfd, 0); k > 0 && pfd[0].Revents&unix.POLLIN == 0 {
				return nil
			}
		default:
			return fmt.Errorf("NOTIF_RECV: %w", e)
		}
	}
}

// pollListener is readListener parked in Go's poller while nothing waits.
func pollListener(l int, q *callQueue) error {
	if err := unix.SetNonblock(l, true); err != nil {
		return fmt.Errorf("set non-blocking: %w", err)
	}
	// A dup for the poller: its File's close must not close l.
	d, err := unix.Dup(l)
	if err != nil {
		return fmt.Errorf("dup: %w", err)
	}
	f := os.NewFile(uintptr(d), "seccomp-listener")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		n := new(seccompNotif)
		var recvErr error
		hup := false
		err := rc.Read(func(fd uintptr) bool {
			// NOTIF_RECV blocks whatever O_NONBLOCK says: look first.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if k, _ := unix.Poll(pfd, 0); k <= 0 {
				return false
			}
			if pfd[0].Revents&unix.POLLIN == 0 {
				hup = true // every process of the tree is gone
				return true
			}
			_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
			if e == unix.EINTR || e == unix.ENOENT { // ENOENT: the caller was killed meanwhile
				return false
			}
			if e != 0 {
				recvErr = fmt.Errorf("NOTIF_RECV: %w", e)
			}
			return true
		})
		if err != nil || recvErr != nil || hup {
			if recvErr != nil {
				return recvErr
			}
			return err
		}
		q.read(n)
	}
}
