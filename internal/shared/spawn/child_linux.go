package spawn

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneArgs is the kernel's struct clone_args up to set_tid_size
// (CLONE_ARGS_SIZE_VER1, Linux 5.5). Neither syscall nor x/sys/unix export
// one.
type cloneArgs struct {
	flags      uint64 // CLONE_* flags
	pidfd      uint64 // int *: where the kernel stores the pidfd (CLONE_PIDFD)
	childTID   uint64
	parentTID  uint64
	exitSignal uint64 // signal sent to the parent when the child ends
	stack      uint64 // 0: the child runs on a copy of the caller's stack
	stackSize  uint64
	tls        uint64
	setTID     uint64 // pid_t *: the wanted PID, innermost namespace first
	setTIDSize uint64
}

// Steps of the child between clone3 and execve; a failing one is reported
// to the parent with its errno.
const (
	stepSetsid = iota + 1
	stepDup
	stepSetctty
	stepPdeathsig
	stepChroot
	stepSeccomp
	stepSendListener
	stepSetgroups
	stepSetresgid
	stepSetresuid
	stepChdir
	stepTraceme
	stepExecve
	stepSetpgid // last: the numbers above are the wire's, kept as they were
)

var stepNames = [...]string{
	stepSetsid:       "setsid",
	stepDup:          "dup",
	stepSetctty:      "setctty",
	stepPdeathsig:    "pdeathsig",
	stepChroot:       "chroot",
	stepSeccomp:      "seccomp",
	stepSendListener: "send listener",
	stepSetgroups:    "setgroups",
	stepSetresgid:    "setresgid",
	stepSetresuid:    "setresuid",
	stepChdir:        "chdir",
	stepTraceme:      "ptrace",
	stepExecve:       "execve",
	stepSetpgid:      "setpgid",
}

// child is everything the child needs, prepared before clone3 so that the
// child only reads memory and makes raw system calls. With vforkFlags the
// child shares this struct with the parent: it writes only fds, which the
// parent no longer reads.
type child struct {
	clone   cloneArgs
	tid     [1]int32 // the wanted PID; 0 = any
	pidfd   int32    // written by the kernel in the parent
	allSigs uint64   // sigset with every signal
	oldSigs uint64   // the parent thread's mask, restored after clone3
	noSigs  uint64   // the child's mask at execve: empty

	path   *byte
	argv   **byte // NULL-terminated
	envv   **byte // NULL-terminated
	dir    *byte  // nil: keep the working directory
	root   *byte  // nil: keep the root
	traced bool

	fds    []int // fd i of the child is fds[i] of the parent; -1 closes i
	nextfd int   // above 2, len(fds) and every fd in fds
	pipe   int   // write end of the status pipe (CLOEXEC)

	groups    *uint32 // nil when ngroups is 0
	ngroups   uintptr
	uid, gid  uintptr
	setsid    bool
	setpgid   bool
	keepCreds bool // no setgroups, setresgid, setresuid
	setctty   bool
	pdeathsig uintptr
	ppid      uintptr // our PID, to notice that we died before prctl

	// With notify, the child installs prog with a new listener and sends
	// the listener's fd over notifySock (msg, whose control message gets
	// the fd number in cmsg's data).
	notify     bool
	prog       unix.SockFprog
	notifySock int
	msg        unix.Msghdr
	iov        unix.Iovec
	byte1      [1]byte
	cmsg       [24]byte // a cmsghdr and one int, padded
}

// forkExec blocks every signal on this thread and clones. The parent
// returns the child's PID at once, with signals still blocked: the caller
// restores c.oldSigs. The child never returns: it sets itself up, execs,
// or writes step and errno to c.pipe and exits.
//
// With vforkFlags (CLONE_VM|CLONE_VFORK, as os/exec forks) the child runs
// in our memory, on this goroutine's stack below the caller's frame, while
// this thread waits in clone3 until the child has called execve or exited.
// The other threads of the process run on meanwhile. So the child writes
// only its own locals, the frames of the raw system calls it makes, and
// c.fds, and the parent, when clone3 returns in it, reads none of those:
// it returns from here at once, using only the return address, which the
// child never overwrites (it never returns), and the results of
// rawVforkSyscall, written after the child was gone. forkExec must not be
// inlined, so that the caller's frame stays out of the child's reach.
//
// The child is a copy of a multi-threaded Go process with only this thread
// left. It must not run Go code that might allocate, take a lock, grow the
// stack or take a signal, so this function is nosplit (the linker checks
// the whole call chain fits the stack guard), not instrumented by the race
// detector or checkptr, and calls only syscall.RawSyscall{,6} and
// rawVforkSyscall, which are nosplit too. Every local is declared at the
// top, and the goto targets jump over no declaration. Signals stay blocked
// in the child until right before execve, and the child starts with every
// handler Go installed reset to SIG_DFL by the kernel (CLONE_CLEAR_SIGHAND,
// in its own copy of the handler table: no CLONE_SIGHAND; what is ignored
// stays ignored, as across execve), so a signal sent to the child early
// takes its default action instead of running Go's handler, which would
// run on our memory in a runtime that is not there. Blocking signals also
// keeps the runtime from preempting this goroutine, which could otherwise
// move the stack the child runs on, between here and clone3.
//
//go:noinline
//go:nosplit
//go:norace
//go:nocheckptr
func forkExec(c *child) (pid uintptr, err syscall.Errno) {
	var (
		i      int
		fd     int
		pipe   int
		nextfd int
		step   uintptr
		msg    uint64
		ppid   uintptr
		lfd    uintptr
	)

	// Addresses are taken here, inside the nosplit frame, so they cannot go
	// stale through a stack move between taking them and clone3.
	c.clone.pidfd = uint64(uintptr(unsafe.Pointer(&c.pidfd)))
	if c.tid[0] != 0 {
		c.clone.setTID = uint64(uintptr(unsafe.Pointer(&c.tid[0])))
		c.clone.setTIDSize = 1
	}

	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&c.allSigs)), uintptr(unsafe.Pointer(&c.oldSigs)), 8, 0, 0)
	pid, err = rawVforkSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&c.clone)), unsafe.Sizeof(c.clone))
	if err != 0 || pid != 0 {
		return pid, err
	}

	// In the child.
	pipe, nextfd = c.pipe, c.nextfd

	if c.setsid {
		step = stepSetsid
		if _, _, err = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); err != 0 {
			goto fail
		}
	}

	if c.setpgid {
		step = stepSetpgid
		if _, _, err = syscall.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); err != 0 {
			goto fail
		}
	}

	// Files, as syscall.forkAndExecInChild1 does it. Pass 1: move the pipe
	// and every fds[i] < i above all of them, so pass 2 cannot stomp on an
	// fd it still needs.
	step = stepDup
	if pipe < nextfd {
		if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(pipe), uintptr(nextfd), unix.O_CLOEXEC); err != 0 {
			goto fail
		}
		pipe = nextfd
		nextfd++
	}
	for i = 0; i < len(c.fds); i++ {
		fd = c.fds[i]
		if fd >= 0 && fd < i {
			if nextfd == pipe {
				nextfd++
			}
			if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(fd), uintptr(nextfd), unix.O_CLOEXEC); err != 0 {
				goto fail
			}
			c.fds[i] = nextfd
			nextfd++
		}
	}
	// Pass 2: put fds[i] on i, not close-on-exec.
	for i = 0; i < len(c.fds); i++ {
		fd = c.fds[i]
		switch {
		case fd < 0:
			syscall.RawSyscall(unix.SYS_CLOSE, uintptr(i), 0, 0)
		case fd == i:
			// dup3(i, i) fails and would not clear FD_CLOEXEC anyway.
			if _, _, err = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFD, 0); err != 0 {
				goto fail
			}
		default:
			if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(fd), uintptr(i), 0); err != 0 {
				goto fail
			}
		}
	}
	// Every other fd goes at execve: 0-2 now, the rest (some inherited by
	// the daemon without CLOEXEC, and the status pipe, which must live until
	// execve) marked close-on-exec. close_range fails before Linux 5.11;
	// Go's own fds are close-on-exec anyway.
	for i = len(c.fds); i < 3; i++ {
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(i), 0, 0)
	}
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(len(c.fds)), ^uintptr(0)>>32, unix.CLOSE_RANGE_CLOEXEC)

	if c.setctty {
		// 1: as root, take the terminal even if it is another session's,
		// as syscall.SysProcAttr.Setctty does.
		step = stepSetctty
		if _, _, err = syscall.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 1); err != 0 {
			goto fail
		}
	}

	if c.pdeathsig != 0 {
		step = stepPdeathsig
		if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, c.pdeathsig, 0, 0, 0, 0); err != 0 {
			goto fail
		}
		// The parent may have died before prctl; then nobody sends it. A
		// parent outside the child's PID namespace (a thread that setns'd)
		// shows as 0 and cannot be checked.
		ppid, _, _ = syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		if ppid != c.ppid && ppid != 0 {
			pid, _, _ = syscall.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
			syscall.RawSyscall(unix.SYS_KILL, pid, c.pdeathsig, 0)
		}
	}

	// While still root: chroot needs CAP_SYS_CHROOT.
	if c.root != nil {
		step = stepChroot
		if _, _, err = syscall.RawSyscall(unix.SYS_CHROOT, uintptr(unsafe.Pointer(c.root)), 0, 0); err != 0 {
			goto fail
		}
	}

	// While still root: a filter needs CAP_SYS_ADMIN or no_new_privs,
	// and no_new_privs would disarm the set-user-ID programs the process
	// runs. The filter's own calls come next, none of them filtered.
	// WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has read a
	// notification, only a fatal signal interrupts the call's wait for
	// the answer. Without it a signal (a child's SIGCHLD to a shell, in
	// the middle of its next fork) withdrew a fork the supervisor was
	// acting on: the ghost was made and the fork restarted or failed
	// (EINTR), and the supervisor waited for a child that did not come.
	if c.notify {
		step = stepSeccomp
		lfd, _, err = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, uintptr(unsafe.Pointer(&c.prog)))
		if err == syscall.EINVAL { // an older kernel
			lfd, _, err = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
				unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&c.prog)))
		}
		if err != 0 {
			goto fail
		}
		*(*int32)(unsafe.Pointer(&c.cmsg[unix.SizeofCmsghdr])) = int32(lfd)
		step = stepSendListener
		if _, _, err = syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(c.notifySock),
			uintptr(unsafe.Pointer(&c.msg)), unix.MSG_NOSIGNAL); err != 0 {
			goto fail
		}
		syscall.RawSyscall(unix.SYS_CLOSE, lfd, 0, 0)
	}

	// Raw setresuid and friends change this thread only, which is all the
	// child has.
	if c.keepCreds {
		goto creds
	}
	step = stepSetgroups
	if _, _, err = syscall.RawSyscall(unix.SYS_SETGROUPS, c.ngroups, uintptr(unsafe.Pointer(c.groups)), 0); err != 0 {
		goto fail
	}
	step = stepSetresgid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETRESGID, c.gid, c.gid, c.gid); err != 0 {
		goto fail
	}
	step = stepSetresuid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETRESUID, c.uid, c.uid, c.uid); err != 0 {
		goto fail
	}

creds:
	// After the credentials, so the new user needs the right to enter Dir.
	if c.dir != nil {
		step = stepChdir
		if _, _, err = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(c.dir)), 0, 0); err != 0 {
			goto fail
		}
	}

	if c.traced {
		step = stepTraceme
		if _, _, err = syscall.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0); err != 0 {
			goto fail
		}
	}

	// Signals that arrived meanwhile are delivered here, with their default
	// action, or stay pending across execve if ignored.
	step = stepExecve
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&c.noSigs)), 0, 8, 0, 0)
	if c.notify {
		// Tagged, so that the filter lets this one exec through unnotified:
		// the supervisor cannot answer before Start returns (ExecTag).
		_, _, err = syscall.RawSyscall6(unix.SYS_EXECVEAT, ExecTag, uintptr(unsafe.Pointer(c.path)),
			uintptr(unsafe.Pointer(c.argv)), uintptr(unsafe.Pointer(c.envv)), 0, 0)
	} else {
		_, _, err = syscall.RawSyscall(unix.SYS_EXECVE,
			uintptr(unsafe.Pointer(c.path)), uintptr(unsafe.Pointer(c.argv)), uintptr(unsafe.Pointer(c.envv)))
	}

fail:
	msg = uint64(step)<<32 | uint64(err)
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(pipe), uintptr(unsafe.Pointer(&msg)), 8)
	// exit, not exit_group, and tagged (ExitTag): the child is one
	// thread, and a filter installed above may notify exit_group and
	// exit (the process space's does) to a supervisor that serves the
	// listener only once the start has succeeded, while Start waits for
	// this child to end: the two waited for each other for good (a
	// node's start hung so, once, in make test).
	for {
		syscall.RawSyscall(unix.SYS_EXIT, ExitTag, 0, 0)
	}
}
