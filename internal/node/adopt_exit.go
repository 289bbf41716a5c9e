package node

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// A descendant's status comes from its pidfd (PIDFD_INFO_EXIT, Linux
// 6.15), which the kernel keeps whoever reaped it. Older kernels keep
// none (before 6.13 they have no PIDFD_GET_INFO at all), among them the
// Debian 12 kernel (6.1) that netbooted nodes run: there the status is
// taken from what the space saw. Every exit call is notified and let go
// at once, so the supervisor notes the code a process's exit_group, or
// its last thread's exit, named, whichever thread made it and whatever
// PID its ghost has (noteExit); a process a signal ended
// made no call, and its status is read from its zombie's
// /proc/PID/stat, if the node looks before its parent reaps it, or is
// the signal the node relayed to it that it would die of (noteSignal).
// Else its ghost ends with SIGKILL, as everywhere the status cannot be
// had.
// Nothing is noted once the kernel has shown it keeps statuses.

// exitCalled marks tracked.called as set: a status of 0 is exit(0).
const exitCalled = 1 << 31

// noteExit notes the status n, an exit_group or a process's last exit,
// gives its caller, a descendant, if the kernel may not keep statuses.
// The caller is named by its thread's ID here: a process's main thread
// has its PID, which is most often its ghost's too; another thread's ID
// (a Go program's exit_group comes from any of its threads) is looked up
// in /proc, only then, and only on such kernels.
func (sp *space) noteExit(n *seccompNotif) {
	if sp.statusKept.Load() {
		return
	}
	t := sp.heldAt(int(n.pid))
	if t == nil {
		tgid, err := tgidOf(int(n.pid))
		if err != nil || tgid == int(n.pid) {
			return // not a descendant held (yet): its fork is not done with
		}
		if t = sp.heldAt(tgid); t == nil {
			return
		}
	}
	if t.pidfd >= 0 {
		t.called.Store(exitCalled | uint32(n.args[0]&0xff)<<8)
	}
}

// heldAt is the descendant held whose process has the PID pid here:
// under that PID, its ghost's, or, where the number was taken, under
// another (tracked.nodePID). One whose own fork is not done with is not
// held yet: it cannot be ending.
func (sp *space) heldAt(pid int) *tracked {
	held := func(t *tracked) bool {
		select {
		case <-t.ready: // the fields below are set before it closes
			return t.nodePID == pid
		default:
			return false
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if t := sp.tracked[pid]; t != nil && held(t) {
		return t
	}
	for _, t := range sp.tracked {
		if held(t) {
			return t
		}
	}
	return nil
}

// noteSignal notes sig, about to be relayed to t's process (its pidfd
// fd), as its status if the process will die of it: the kernel's
// default action for sig is to end a process, and the process neither
// catches, ignores nor blocks it (its main thread's mask). A process a
// signal ends makes no exit call; where the kernel keeps no status, and
// its parent reaps it before the node reads its zombie (a shell blocked
// in wait4 reaps at once), this note is what is left. Noted only where
// the kernel may keep no status; a status of its own (its zombie's, an
// exit call's) comes first.
func (sp *space) noteSignal(fd uintptr, t *tracked, sig syscall.Signal) {
	if sp.statusKept.Load() || !defaultEnds(sig) {
		return
	}
	st, err := procfs.ReadStatus(t.nodePID)
	if err != nil || pidfd.Reaped(int(fd)) { // the file may be another's
		return
	}
	bit := uint64(1) << (sig - 1)
	if sig != syscall.SIGKILL && (st.SigCgt|st.SigIgn|st.SigBlk)&bit != 0 {
		return
	}
	t.signalled.CompareAndSwap(0, uint32(sig)) // the first such ends it
}

// defaultEnds says whether the kernel's default action for sig ends the
// process (signal(7): Term and Core); real-time signals' does too.
func defaultEnds(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGWINCH, syscall.SIGCONT, // Ign
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU: // Stop
		return false
	}
	return sig >= 1 && sig <= 64
}

// adoptExit waits for a descendant to end and be reaped, and returns its
// status; SIGKILL if the relay is over first (its ghost is gone) or the
// status cannot be had.
func (s *Slave) adoptExit(rc syscall.RawConn, l *link, pid int, t *tracked) unix.WaitStatus {
	// A pidfd is readable once its process has ended; Go's poller waits.
	rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if k, _ := unix.Poll(pfd, 0); k <= 0 {
			return false
		}
		return true
	})
	// Readable means ended; the status is the pidfd's once the parent
	// has reaped it. A zombie keeps its ghost, as it keeps its PID.
	var ws, zombie unix.WaitStatus
	var werr error
	looked, fromZombie, noInfo := false, false, false
	gone := 0
	for delay := time.Millisecond; ; delay = min(2*delay, time.Second) {
		if !noInfo {
			rc.Control(func(fd uintptr) { ws, werr = exitOf(int(fd)) })
			if werr == nil {
				s.space.statusKept.Store(true)
				return ws
			}
			noInfo = pidfd.NoInfo(werr)
		}
		if !looked && !s.space.statusKept.Load() {
			// At once: its parent may reap it any moment.
			rc.Control(func(fd uintptr) { zombie, fromZombie = zombieStatus(int(fd), t.nodePID) })
			looked = true
		}
		if noInfo {
			var over bool
			rc.Control(func(fd uintptr) { over = pidfd.Reaped(int(fd)) })
			if over {
				break
			}
		} else if errors.Is(werr, unix.ESRCH) && gone < 10 {
			// Reaped, its status not stored yet (the kernel unhashes
			// the task a moment before pidfs keeps its exit); or, on
			// 6.13 and 6.14, reaped with none kept.
			gone++
		} else if werr != errNotReaped {
			break
		}
		if l.isOver() {
			return unix.WaitStatus(syscall.SIGKILL)
		}
		time.Sleep(delay)
	}
	// The zombie's first: a process killed while it called exit ended
	// by the kill.
	if fromZombie {
		return zombie
	}
	if c := t.called.Load(); c&exitCalled != 0 {
		return unix.WaitStatus(c &^ exitCalled)
	}
	if sig := t.signalled.Load(); sig != 0 {
		return unix.WaitStatus(sig)
	}
	s.log.Warn("process space: exit status", "pid", pid, "err", werr)
	return unix.WaitStatus(syscall.SIGKILL)
}

var errNotReaped = errors.New("not reaped yet")

// exitOf reads an ended process's wait status from its pidfd fd (Linux 6.15:
// kept for the pidfd even after its parent reaped it).
func exitOf(fd int) (unix.WaitStatus, error) {
	info, err := pidfd.Info(fd, unix.PIDFD_INFO_EXIT)
	if err != nil {
		return 0, err
	}
	if info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return 0, errNotReaped
	}
	return unix.WaitStatus(info.Exit_code), nil
}

// zombieStatus is the wait status of fd's process, whose PID here is
// pid, from its /proc/PID/stat while it is a zombie; false if it is not
// one (still exiting) or already reaped, when the file may be another's.
func zombieStatus(fd, pid int) (unix.WaitStatus, bool) {
	st, err := procfs.ReadStat(pid)
	if err != nil || st.State != 'Z' || pidfd.Reaped(fd) {
		return 0, false
	}
	return unix.WaitStatus(st.ExitCode), true
}
