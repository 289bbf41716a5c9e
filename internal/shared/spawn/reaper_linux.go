package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var errReaperClosed = errors.New("spawn: reaper closed")

// Reaper reaps every child of the process (it is meant for a PID 1 that
// also inherits orphans), delivering each status to whoever started that
// child, and discarding the statuses of orphans.
//
// There must be one Reaper per process, and every child must be started
// through it: its wait4(-1) takes the status of any child, so os/exec's
// Cmd.Wait would see ECHILD.
type Reaper struct {
	sigs   chan os.Signal
	stop   chan struct{}
	exited chan struct{} // closed when loop returns

	// mu guards the fields below. Start holds it from clone3 until the
	// child is registered, and the loop from wait4 until the status is
	// delivered, so a child that dies at once is never taken for an
	// orphan, and a PID reused right after a reap never receives the old
	// status. Lock order: mu, then syscall.ForkLock.
	mu      sync.Mutex
	kids    map[int]*kid
	orphans int // statuses discarded
	closed  bool
}

// kid is a child started through the Reaper and not yet reaped.
type kid struct {
	pidfd int
	done  chan unix.WaitStatus // buffered: delivery never blocks
}

// NewReaper starts the goroutine that, on every SIGCHLD, reaps with
// wait4(-1, WNOHANG|__WALL) until nothing is left to reap.
func NewReaper() *Reaper {
	r := &Reaper{
		sigs:   make(chan os.Signal, 1),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		kids:   make(map[int]*kid),
	}
	// Notify before the first reap: a child that ends in between sends a
	// SIGCHLD that the loop then sees.
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r
}

func (r *Reaper) loop() {
	defer close(r.exited)
	for {
		// Signals coalesce, so each one means "reap until empty".
		r.reapAll()
		select {
		case <-r.stop:
			return
		case <-r.sigs:
		}
	}
}

// reapAll reaps until no child is waiting, taking mu for one child at a
// time so Starts are not held up behind a burst of exits.
func (r *Reaper) reapAll() {
	for {
		r.mu.Lock()
		more := r.reapOneLocked()
		r.mu.Unlock()
		if !more {
			return
		}
	}
}

// reapOneLocked reaps one child, if one has ended, and reports whether it
// did.
func (r *Reaper) reapOneLocked() bool {
	var ws unix.WaitStatus
	pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
	if err == unix.EINTR {
		return true
	}
	if err != nil || pid <= 0 {
		return false // ECHILD: no children; 0: none has ended
	}
	if ws.Stopped() || ws.Continued() {
		// A ptrace stop of a child some thread here traces (the reaper
		// asks for no other stops): not an end, and not the reaper's.
		return true
	}
	k, ok := r.kids[pid]
	if !ok {
		r.orphans++
		return true
	}
	delete(r.kids, pid)
	unix.Close(k.pidfd)
	k.done <- ws
	close(k.done)
	return true
}

// Start is spawn.Start under the reaper's lock. The returned channel gets
// exactly one status when the child ends, and is then closed; it is closed
// without a status if the Reaper is closed first.
func (r *Reaper) Start(a Attr) (pid int, done <-chan unix.WaitStatus, err error) {
	r.mu.Lock()
	p, k, err := r.forkLocked(&a)
	r.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	// Where clone3 waits for the child's execve (vforkFlags), the status
	// is in the pipe already; elsewhere it may take a while (a slow Dir
	// or binary), and the registered child is reaped correctly meanwhile.
	if err := p.await(); err != nil {
		// The failed child exits at once and the loop reaps it; returning
		// after that leaves no zombie behind.
		<-k.done
		return 0, nil, err
	}
	return p.pid, k.done, nil
}

// StartTraced starts a child with a.Traced set and runs rebuild on it
// while holding the reaper's lock: the reaper's wait4(-1) would otherwise
// take the ptrace stops meant for the tracer. It must be called on the OS
// thread that is to trace the child (locked to its goroutine), and rebuild
// must have let the child go (PTRACE_DETACH) when it returns. When rebuild
// fails the child is killed; the error comes back once it is reaped.
func (r *Reaper) StartTraced(a Attr, rebuild func(pid int) error) (pid int, done <-chan unix.WaitStatus, err error) {
	a.Traced = true
	r.mu.Lock()
	p, k, err := r.forkLocked(&a)
	if err == nil {
		if err = p.await(); err == nil {
			if err = rebuild(p.pid); err != nil {
				unix.PidfdSendSignal(p.pidfd, syscall.SIGKILL, nil, 0)
				unix.PtraceDetach(p.pid)
			}
		}
	}
	r.mu.Unlock()
	if err != nil {
		if k != nil {
			<-k.done
		}
		return 0, nil, err
	}
	return p.pid, k.done, nil
}

// Hold runs fn while the reaper does not wait: fn may trace a child of
// this process (ptrace) and wait for its stops itself, which the reaper's
// wait4(-1) would otherwise take. fn should be short: no child is reaped
// meanwhile.
func (r *Reaper) Hold(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn()
}

// forkLocked clones and registers the child.
func (r *Reaper) forkLocked(a *Attr) (*forked, *kid, error) {
	if r.closed {
		return nil, nil, errReaperClosed
	}
	p, err := fork(a)
	if errors.Is(err, ErrPIDTaken) {
		// The PID may be a child of ours that has ended, whose SIGCHLD the
		// loop has not handled yet.
		for r.reapOneLocked() {
		}
		p, err = fork(a)
	}
	if err != nil {
		return nil, nil, err
	}
	if old, ok := r.kids[p.pid]; ok {
		// Someone else in this process reaped the old child (a wait4 that
		// should not be there); its status is lost.
		unix.Close(old.pidfd)
		close(old.done)
	}
	k := &kid{pidfd: p.pidfd, done: make(chan unix.WaitStatus, 1)}
	r.kids[p.pid] = k
	return p, k, nil
}

// Signal sends sig to a child started by r that has not been reaped yet,
// through its pidfd, so a reused PID is never hit.
func (r *Reaper) Signal(pid int, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.kids[pid]
	if !ok {
		return fmt.Errorf("spawn: signal %v to pid %d: not a running child: %w", sig, pid, syscall.ESRCH)
	}
	if err := unix.PidfdSendSignal(k.pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("spawn: signal %v to pid %d: %w", sig, pid, err)
	}
	return nil
}

// Close stops reaping, delivers the statuses of children that have
// already ended, and closes the done channels of the others without a
// status. Those are no longer reaped.
func (r *Reaper) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()

	signal.Stop(r.sigs)
	close(r.stop)
	<-r.exited
	r.reapAll()

	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, k := range r.kids {
		unix.Close(k.pidfd)
		close(k.done)
		delete(r.kids, pid)
	}
}

// AwaitExit waits up to timeout for pid, a child started through r, to
// end and be reaped, and reports whether its PID is free of it. A process
// that has just moved away is killed on its old node and may still be
// exiting when it moves back there with the same PID.
func (r *Reaper) AwaitExit(pid int, timeout time.Duration) bool {
	r.mu.Lock()
	k, ok := r.kids[pid]
	r.mu.Unlock()
	if !ok {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(k.pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		break
	}
	// Ended: reap it here rather than wait for the loop's SIGCHLD.
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.reapOneLocked() {
		if _, still := r.kids[pid]; !still {
			return true
		}
	}
	_, still := r.kids[pid]
	return !still
}
