package node

import "golang.org/x/sys/unix"

// spaceFilter is the seccomp program of every process of the space (see
// space.go). Notified: fork, vfork, clone without CLONE_THREAD (a new
// process: it needs its ghost first), wait4 and waitid (so that a parent
// cannot reap a child before the supervisor holds its pidfd: the
// supervisor answers in order, and a fork's answer waits for the child).
// clone3 fails with ENOSYS, which libc and Go take as "use clone": its
// flags are in memory, which a filter cannot read and a supervisor could
// only read racily. x32 calls and the i386 ABI's process calls fail the
// same way: a fork there would have no ghost. Everything else is allowed
// without a word.
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
	return []unix.SockFilter{
		/* 0 */ st(ldW, offArch),
		/* 1 */ j(jeq, unix.AUDIT_ARCH_X86_64, 5, 0),
		// Another ABI (i386): its process calls fail.
		/* 2 */ st(ldW, offNR),
		/* 3 */ j(jeq, i386Fork, 15, 0),
		/* 4 */ j(jeq, i386Vfork, 14, 0),
		/* 5 */ j(jeq, i386Clone, 13, 0),
		/* 6 */ j(jeq, i386Clone3, 12, 11),
		// x86_64.
		/* 7 */ st(ldW, offNR),
		/* 8 */ j(jge, x32, 10, 0),
		/* 9 */ j(jeq, unix.SYS_CLONE3, 9, 0),
		/* 10 */ j(jeq, unix.SYS_FORK, 6, 0),
		/* 11 */ j(jeq, unix.SYS_VFORK, 5, 0),
		/* 12 */ j(jeq, unix.SYS_WAIT4, 4, 0),
		/* 13 */ j(jeq, unix.SYS_WAITID, 3, 0),
		/* 14 */ j(jeq, unix.SYS_CLONE, 0, 3),
		/* 15 */ st(ldW, offArg0),
		/* 16 */ j(jset, unix.CLONE_THREAD, 1, 0),
		/* 17 */ st(ret, notify),
		/* 18 */ st(ret, allow),
		/* 19 */ st(ret, enosys),
	}
}
