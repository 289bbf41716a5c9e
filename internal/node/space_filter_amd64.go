package node

import (
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// spaceFilter is the seccomp program of every process of the space (see
// space.go). Notified: fork, vfork, clone without CLONE_THREAD (a new
// process: it needs its ghost first), wait4 and waitid (so that a parent
// cannot reap a child before the supervisor holds its pidfd: the
// supervisor answers in order, and a fork's answer waits for the child),
// exit_group and exit (for the same reason: a child whose parent ignores
// SIGCHLD is reaped by the kernel as it ends, and a parent that ends
// leaves its children to init, where they cannot be told apart; see
// space_exit.go), and execve, execveat, setpgid and setsid, whose effect the ghost mirrors
// (space_mirror.go); but not the execveat tagged spawn.ExecTag, the node's
// own exec of the program it starts, nor the exit tagged spawn.ExitTag,
// the end of a start that failed. clone3 fails with ENOSYS, which libc
// and Go take as "use clone": its flags are in memory, which a filter
// cannot read and a supervisor could only read racily. x32 calls and the
// i386 ABI's process calls fail the same way: a fork there would have no
// ghost. Everything else is allowed without a word.
func spaceFilter() []unix.SockFilter {
	const (
		ldW     = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret     = unix.BPF_RET | unix.BPF_K
		offNR   = 0
		offArch = 4
		offArg0 = 16 // low 32 bits of args[0], little endian
		offArgH = 20 // high 32 bits of args[0]
		allow   = unix.SECCOMP_RET_ALLOW
		notify  = unix.SECCOMP_RET_USER_NOTIF
		enosys  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		x32     = 0x40000000
		// i386: fork, vfork, clone, clone3.
		i386Fork, i386Vfork, i386Clone, i386Clone3 = 2, 190, 120, 435
	)
	st := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	j := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
	}
	// Jumps are relative: to reach instruction T from instruction I,
	// jump T-I-1. The returns are at 29 (notify), 30 (allow), 31 (enosys).
	return []unix.SockFilter{
		/* 0 */ st(ldW, offArch),
		/* 1 */ j(jeq, unix.AUDIT_ARCH_X86_64, 5, 0),
		// Another ABI (i386): its process calls fail.
		/* 2 */ st(ldW, offNR),
		/* 3 */ j(jeq, i386Fork, 27, 0),
		/* 4 */ j(jeq, i386Vfork, 26, 0),
		/* 5 */ j(jeq, i386Clone, 25, 0),
		/* 6 */ j(jeq, i386Clone3, 24, 23),
		// x86_64.
		/* 7 */ st(ldW, offNR),
		/* 8 */ j(jge, x32, 22, 0),
		/* 9 */ j(jeq, unix.SYS_CLONE3, 21, 0),
		/* 10 */ j(jeq, unix.SYS_FORK, 18, 0),
		/* 11 */ j(jeq, unix.SYS_VFORK, 17, 0),
		/* 12 */ j(jeq, unix.SYS_WAIT4, 16, 0),
		/* 13 */ j(jeq, unix.SYS_WAITID, 15, 0),
		/* 14 */ j(jeq, unix.SYS_EXIT_GROUP, 14, 0),
		/* 15 */ j(jeq, unix.SYS_EXIT, 11, 0),
		/* 16 */ j(jeq, unix.SYS_EXECVE, 12, 0),
		/* 17 */ j(jeq, unix.SYS_SETPGID, 11, 0),
		/* 18 */ j(jeq, unix.SYS_SETSID, 10, 0),
		/* 19 */ j(jeq, unix.SYS_EXECVEAT, 3, 0),
		/* 20 */ j(jeq, unix.SYS_CLONE, 0, 9),
		// clone: a thread is no new process.
		/* 21 */ st(ldW, offArg0),
		/* 22 */ j(jset, unix.CLONE_THREAD, 7, 6),
		// execveat: the node's own, tagged, goes through.
		/* 23 */ st(ldW, offArg0),
		/* 24 */ j(jeq, spawn.ExecTag, 0, 4),
		/* 25 */ st(ldW, offArgH),
		/* 26 */ j(jeq, 0, 3, 2),
		// exit: the node's own child's, tagged (a failed start), goes
		// through.
		/* 27 */ st(ldW, offArg0),
		/* 28 */ j(jeq, spawn.ExitTag, 1, 0),
		/* 29 */ st(ret, notify),
		/* 30 */ st(ret, allow),
		/* 31 */ st(ret, enosys),
	}
}

// forkNr: n makes a process (the filter lets threads through).
func forkNr(n *seccompNotif) bool {
	switch int(n.nr) {
	case unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_CLONE:
		return true
	}
	return false
}
