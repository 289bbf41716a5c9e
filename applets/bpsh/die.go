package bpsh

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// deathSignal is the signal bpsh dies of: with one process, the one that
// killed it, so that bpsh's parent sees what it would have seen of the
// process itself (Python's Popen.returncode -15, where an exit status
// 143 would say the process exited). 0 with several processes (their
// statuses are summed up in an exit status) or none that died of a
// signal; 0 also when bproc, not a signal, ended the process (the node
// died), which the exit status and a line on stderr tell.
func (r *runner) deathSignal() syscall.Signal {
	if len(r.ranks) != 1 {
		return 0
	}
	rk := r.ranks[0]
	if !rk.reaped || rk.errText != "" {
		return 0
	}
	return wire.FromWait(rk.ws).Signal
}

// dieOf ends bpsh by sig with its default action, as the process ended.
// It returns only if that action is not to die (a signal a process
// cannot die of by default, such as SIGCHLD), for the caller to exit
// with 128+sig instead.
//
// The action is set with rt_sigaction itself: Go's signal.Reset gives a
// signal back to the runtime, whose SIGQUIT prints goroutines and exits
// 2. A core-dumping signal dumps no core of bpsh: the process's core, if
// any, was the node's.
func dieOf(sig syscall.Signal) {
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var dfl [4]uint64 // the kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); errno != 0 {
		return
	}
	// To this thread, unblocked here: it acts on the signal as tgkill
	// returns. A signal to the process could be taken by another thread
	// while this one went on to exit 128+sig (a core-dumping signal is
	// acted on by the thread that takes it, not at once).
	runtime.LockOSThread()
	mask := uint64(1) << (uint(sig) - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	// Still here: the default action is not to die.
	runtime.UnlockOSThread()
}
