package node

import (
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// A child whose parent ignores SIGCHLD is held before it runs. The
// kernel reaps such a child the moment it ends, and keeps its status for
// a pidfd only if one was open then: a child that a signal ended before
// the supervisor held it (its parent's kill right after the fork, its own
// raise, a crash) lost its status, and its ghost died of SIGKILL. The
// order of notifications cannot help there: a signal is no notified call
// (notifying kill would let a signal arriving meanwhile fail it with
// EINTR, as it fails a fork).
//
// So for such a parent the supervisor traces the forking thread for the
// length of the fork (PTRACE_SEIZE with PTRACE_O_TRACEFORK, VFORK and
// CLONE): the kernel attaches the child as it makes it and stops it
// before its first instruction (PTRACE_EVENT_STOP), and stops the parent
// as its fork returns (PTRACE_EVENT_FORK). A traced child that ends is
// not reaped by the kernel either. Once the child is held by its pidfd
// both are let go (PTRACE_DETACH), a signal that stopped the parent
// meanwhile delivered as it came.
//
// Only these forks pay for it (a few system calls and the wait for the
// child's stop). A parent traced already (a debugger) cannot be traced
// twice and keeps the window; a debugger attaching during the fork is
// refused (EPERM). A parent whose SIGCHLD has SA_NOCLDWAIT with a
// handler reaps the same way; /proc does not show it, the rt_sigaction
// that sets it does (space_nocldwait.go).

// forkHold is a fork whose calling thread a goroutine's thread traces.
type forkHold struct {
	tid     int              // the forking thread
	seized  chan bool        // the trace began (or not)
	settled chan forkSettled // the fork's finder, once started
	// The caller's SA_NOCLDWAIT note goes to its child (ex nil: none).
	caller int
	ex     *exitHolds
}

type forkSettled struct {
	d *forkDone
	t *tracked
}

// sigchldIgnored: pid's SIGCHLD is SIG_IGN (/proc/PID/status SigIgn).
func sigchldIgnored(pid int) bool {
	st, err := procfs.ReadStatus(pid)
	return err == nil && st.SigIgn&(1<<(unix.SIGCHLD-1)) != 0
}

// holdFork has a goroutine of its own trace tid, of process caller,
// about to be let go into a fork whose child's parent is parent, if that
// parent ignores SIGCHLD or has SA_NOCLDWAIT, or the caller has (its
// child must be noted so too: a clone with CLONE_PARENT); nil if not,
// or if tid cannot be traced. ignored: parent ignores SIGCHLD (SIG_IGN);
// ex is the listener's (space_nocldwait.go).
func holdFork(tid, caller, parent int, ignored bool, ex *exitHolds) *forkHold {
	inherits := ex.noCldWait(caller)
	if !inherits && !ignored && (parent == caller || !ex.noCldWait(parent)) {
		return nil
	}
	h := &forkHold{tid: tid, seized: make(chan bool), settled: make(chan forkSettled, 1)}
	if inherits {
		h.caller, h.ex = caller, ex
	}
	go h.trace()
	if !<-h.seized {
		return nil
	}
	return h
}

// release hands the tracer the fork's finder: once it has settled (the
// child is held by its pidfd, or known lost), the child and the forking
// thread are let go.
func (h *forkHold) release(d *forkDone, t *tracked) { h.settled <- forkSettled{d, t} }

// trace is the tracer: ptrace requests must come from the thread that
// seized. Its thread goes back to Go once every task it traced is let
// go: it must never end while locked, as a thread's end fires the
// Pdeathsig of the children it forked (a remote process started on it).
func (h *forkHold) trace() {
	runtime.LockOSThread()
	const opts = unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACECLONE
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(h.tid), 0, opts, 0, 0); e != 0 {
		runtime.UnlockOSThread()
		h.seized <- false
		return
	}
	defer runtime.UnlockOSThread()
	h.seized <- true
	s := <-h.settled
	// A fork that a signal restarts (or that failed, and a signal came)
	// returns without a child and stops the caller for that signal: let
	// it go at once, so that it makes its fork again, a notification
	// that tells the finder this one is over (callQueue.carry). Its fork
	// made no child if it stopped so: a child's fork stops the caller
	// for the event first, and it stays stopped until let go below.
	callerFree := false
	tick := time.NewTicker(100 * time.Microsecond)
	for waiting := true; waiting; {
		select {
		case <-s.d.done:
			waiting = false
		case <-tick.C:
			if !callerFree && stopSignal(h.tid) != 0 {
				detach(h.tid)
				callerFree = true
			}
		}
	}
	tick.Stop()
	if callerFree {
		// Its fork made no child; and t may be its next fork's already.
		return
	}
	if stopSignal(h.tid) != 0 {
		detach(h.tid) // the same, seen late
		return
	}
	// The fork's event names the child (the caller is stopped for it);
	// else the finder's record, when it found one (the caller was
	// killed meanwhile, or its fork failed).
	child := 0
	var msg uint64
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETEVENTMSG, uintptr(h.tid), 0, uintptr(unsafe.Pointer(&msg)), 0, 0); e == 0 && msg > 0 {
		child = int(msg)
	} else if s.t.err == nil {
		child = s.t.nodePID
	}
	if child > 0 {
		h.ex.inheritNoWait(h.caller, child) // before the child runs
		detach(child)
	}
	detach(h.tid)
}

// detach ends the trace of tid, which must be in a ptrace stop for it:
// the child stops as it first runs, the parent as its fork returns; a
// parent whose fork made no child (it failed, or a signal restarted it)
// is stopped with PTRACE_INTERRUPT. A signal-delivery stop gives its
// signal back to the task. A task gone, or a zombie (whose trace the
// reaper's wait ends), is let go. It waits for the stop as long as it
// takes: a task left traced would stay stopped at its next event.
func detach(tid int) {
	began := time.Now()
	interrupted := false
	for delay := 10 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(stopSignal(tid)), 0, 0)
		if e != unix.ESRCH || !alive(tid) {
			return // let go, gone, or not ours (EPERM): nothing more to do
		}
		// Not stopped yet: in a millisecond it should have, unless it
		// will not by itself (a fork that made no child).
		if !interrupted && time.Since(began) > time.Millisecond {
			unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_INTERRUPT, uintptr(tid), 0, 0, 0, 0)
			interrupted = true
		}
		time.Sleep(delay)
	}
}

// stopSignal is the signal of tid's signal-delivery stop, 0 for any
// other stop (a ptrace event's, whose siginfo is SIGTRAP with the event
// in si_code's second byte) or none.
func stopSignal(tid int) unix.Signal {
	var si struct {
		signo, errno, code int32
		_                  [116]byte
	}
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(&si)), 0, 0); e != 0 {
		return 0 // not stopped, or a group stop (EINVAL)
	}
	if si.code > 0 && si.code>>8 != 0 {
		return 0 // an event's stop: a signal given back would be lost anyway
	}
	return unix.Signal(si.signo)
}
