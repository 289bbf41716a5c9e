package node

import (
	"encoding/binary"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A parent whose SIGCHLD action has SA_NOCLDWAIT has its children reaped
// by the kernel as they end, whatever its handler, as one that ignores
// SIGCHLD does; so its forks must be held as those are (space_hold.go).
// /proc shows which signals are ignored or caught (SigIgn, SigCgt), not
// the flags. So the filter notifies rt_sigaction of SIGCHLD with a new
// action, and the supervisor reads the action's flags from the caller's
// memory before letting the call go on: the process's next fork, a later
// notification of the same listener, is handled after.
//
// What the node keeps follows the kernel's rules: a fork copies the
// actions (the child of such a parent is noted as its fork is held), an
// exec resets every action's flags (flush_signal_handlers), so a note
// holds only while the process's argument area is where it was (an exec
// moves it, as space_mirror.go tells execs). Not followed: a clone with
// CLONE_SIGHAND but no CLONE_THREAD, whose child shares its parent's
// actions (the note is the caller's alone), and a call that fails (a bad
// mask pointer): the note only makes more forks traced.

// saNoCldWait is SA_NOCLDWAIT (asm-generic/signal-defs.h).
const saNoCldWait = 2

// noWaitNote is a process noted with SA_NOCLDWAIT: its argument area
// then, which an exec moves.
type noWaitNote struct{ argStart uint64 }

// sigaction handles n if it is a rt_sigaction (of SIGCHLD with a new
// action: the filter notifies no other), noting whether the new action
// has SA_NOCLDWAIT, and lets it go on; it says whether n was one.
func (sp *space) sigaction(l int, n *seccompNotif, h *exitHolds) bool {
	if int(n.nr) != unix.SYS_RT_SIGACTION {
		return false
	}
	defer sp.proceed(l, n.id)
	flags, err := actFlags(int(n.pid), n.args[1])
	if err != nil || !notifValid(l, n.id) {
		return true // the call fails (EFAULT), or its caller is gone
	}
	pid, err := tgidOf(int(n.pid))
	if err != nil {
		return true
	}
	h.noteNoWait(pid, flags&saNoCldWait != 0)
	return true
}

// actFlags reads sa_flags from the struct kernel_sigaction at act in
// tid's memory: handler, flags, restorer, mask, 8 bytes each.
func actFlags(tid int, act uint64) (uint64, error) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(tid)+"/mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var b [8]byte
	k, err := unix.Pread(fd, b[:], int64(act+8))
	if err != nil {
		return 0, err
	}
	if k != len(b) {
		return 0, unix.EFAULT
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// notifValid: the notification id still waits for its answer, so the
// PID it named was its caller's when read.
func notifValid(l int, id uint64) bool {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)))
	return e == 0
}

// noteNoWait notes whether pid's SIGCHLD action has SA_NOCLDWAIT.
func (h *exitHolds) noteNoWait(pid int, on bool) {
	var argStart uint64
	if on {
		st, err := readProcState(pid)
		if err != nil {
			return
		}
		argStart = st.args[0]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !on {
		delete(h.noWait, pid)
		return
	}
	if h.noWait == nil {
		h.noWait = make(map[int]noWaitNote)
	}
	h.noWait[pid] = noWaitNote{argStart: argStart}
}

// noCldWait: pid's SIGCHLD action has SA_NOCLDWAIT, as far as the node
// knows; a note that an exec has made stale is dropped.
func (h *exitHolds) noCldWait(pid int) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	note, ok := h.noWait[pid]
	h.mu.Unlock()
	if !ok {
		return false
	}
	st, err := readProcState(pid)
	if err == nil && st.args[0] == note.argStart {
		return true
	}
	h.mu.Lock()
	if h.noWait[pid] == note {
		delete(h.noWait, pid)
	}
	h.mu.Unlock()
	return false
}

// inheritNoWait notes child as its parent is: a fork copies the actions.
func (h *exitHolds) inheritNoWait(parent, child int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if note, ok := h.noWait[parent]; ok {
		h.noWait[child] = note // the same argument area: a copy of the memory
	}
}
