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
// space_exit.go), execve, execveat, setpgid and setsid, whose effect
// the ghost mirrors (space_mirror.go), and rt_sigaction of SIGCHLD with a
// new action, whose SA_NOCLDWAIT /proc does not show (space_nocldwait.go);
// but not the execveat tagged spawn.ExecTag, the node's
// own exec of the program it starts, nor the exit tagged spawn.ExitTag,
// the end of a start that failed. clone3 fails with ENOSYS, which libc
// and Go take as "use clone": its flags are in memory, which a filter
// cannot read and a supervisor could only read racily. x32 calls and the
// i386 ABI's process calls fail the same way: a fork there would have no
// ghost. Everything else is allowed without a word.
func spaceFilter() []unix.SockFilter {
	const (
		ldW      = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq      = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge      = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset     = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret      = unix.BPF_RET | unix.BPF_K
		offNR    = 0
		offArch  = 4
		offArg0  = 16 // low 32 bits of args[0], little endian
		offArgH  = 20 // high 32 bits of args[0]
		offArg1  = 24 // args[1], low and high
		offArg1H = 28
		allow    = unix.SECCOMP_RET_ALLOW
		notify   = unix.SECCOMP_RET_USER_NOTIF
		enosys   = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		x32      = 0x40000000
		// i386: fork, vfork, clone, clone3.
		i386Fork, i386Vfork, i386Clone, i386Clone3 = 2, 190, 120, 435
	)
	st := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	j := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
	}
	// Jumps are relative: to reach instruction T from instruction I,
	// jump T-I-1. The returns are at 36 (notify), 37 (allow), 38 (enosys).
	return []unix.SockFilter{
		/* 0 */ st(ldW, offArch),
		/* 1 */ j(jeq, unix.AUDIT_ARCH_X86_64, 5, 0),
		// Another ABI (i386): its process calls fail.
		/* 2 */ st(ldW, offNR),
		/* 3 */ j(jeq, i386Fork, 34, 0),
		/* 4 */ j(jeq, i386Vfork, 33, 0),
		/* 5 */ j(jeq, i386Clone, 32, 0),
		/* 6 */ j(jeq, i386Clone3, 31, 30),
		// x86_64.
		/* 7 */ st(ldW, offNR),
		/* 8 */ j(jge, x32, 29, 0),
		/* 9 */ j(jeq, unix.SYS_CLONE3, 28, 0),
		/* 10 */ j(jeq, unix.SYS_FORK, 25, 0),
		/* 11 */ j(jeq, unix.SYS_VFORK, 24, 0),
		/* 12 */ j(jeq, unix.SYS_WAIT4, 23, 0),
		/* 13 */ j(jeq, unix.SYS_WAITID, 22, 0),
		/* 14 */ j(jeq, unix.SYS_EXIT_GROUP, 21, 0),
		/* 15 */ j(jeq, unix.SYS_EXIT, 12, 0),
		/* 16 */ j(jeq, unix.SYS_EXECVE, 19, 0),
		/* 17 */ j(jeq, unix.SYS_SETPGID, 18, 0),
		/* 18 */ j(jeq, unix.SYS_SETSID, 17, 0),
		/* 19 */ j(jeq, unix.SYS_EXECVEAT, 4, 0),
		/* 20 */ j(jeq, unix.SYS_RT_SIGACTION, 9, 0),
		/* 21 */ j(jeq, unix.SYS_CLONE, 0, 15),
		// clone: a thread is no new process.
		/* 22 */ st(ldW, offArg0),
		/* 23 */ j(jset, unix.CLONE_THREAD, 13, 12),
		// execveat: the node's own, tagged, goes through.
		/* 24 */ st(ldW, offArg0),
		/* 25 */ j(jeq, spawn.ExecTag, 0, 10),
		/* 26 */ st(ldW, offArgH),
		/* 27 */ j(jeq, 0, 9, 8),
		// exit: the node's own child's, tagged (a failed start), goes
		// through.
		/* 28 */ st(ldW, offArg0),
		/* 29 */ j(jeq, spawn.ExitTag, 7, 6),
		// rt_sigaction: only SIGCHLD's, with a new action (the kernel
		// takes the number as an int: the low half).
		/* 30 */ st(ldW, offArg0),
		/* 31 */ j(jeq, uint32(unix.SIGCHLD), 0, 5),
		/* 32 */ st(ldW, offArg1),
		/* 33 */ j(jeq, 0, 0, 2),
		/* 34 */ st(ldW, offArg1H),
		/* 35 */ j(jeq, 0, 1, 0),
		/* 36 */ st(ret, notify),
		/* 37 */ st(ret, allow),
		/* 38 */ st(ret, enosys),
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
