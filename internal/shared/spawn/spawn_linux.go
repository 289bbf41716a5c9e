// Package spawn starts processes with a chosen PID and reaps children
// without losing or stealing exit statuses.
//
// The node daemon runs as PID 1 of its own PID namespace and must give a
// process the PID of its ghost on the master. os/exec cannot choose a PID;
// Start uses a hand-written clone3 with set_tid. A Reaper, meant for that
// PID 1, reaps every child, orphans included, and hands each status to
// whoever started the child.
package spawn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attr describes the process to start.
type Attr struct {
	Path string   // absolute path of the executable
	Argv []string // nil: {Path}
	Env  []string // the whole environment; nil: empty
	Dir  string   // working directory; "" = keep ("/" with Root)
	// Root is the directory the child chroots to before it drops its
	// credentials; Path and Dir are then inside it. "" = keep.
	Root string
	// Traced: the child asks to be traced (PTRACE_TRACEME) just before
	// execve, so it stops with SIGTRAP once the new program is loaded,
	// before its first instruction. Its tracer is the thread that called
	// Start, which must be locked to it and wait for that stop.
	Traced bool
	// PID is the wanted PID in the namespace the calling thread creates
	// children in (the caller's, or the one it setns'd to while locked to
	// its OS thread); 0 = any.
	PID    int
	Uid    uint32
	Gid    uint32
	Groups []uint32 // supplementary groups (setgroups), set even if empty
	// Files are fds of the parent that become 0, 1, 2, ... in the child
	// (-1 = closed). Every other fd is closed at execve.
	Files   []int
	Setsid  bool
	Setctty bool // with Setsid: make fd 0 the controlling terminal (TIOCSCTTY)
	// Setpgid puts the child in a new process group of its own (not
	// with Setsid, which does so too).
	Setpgid bool
	// KeepCreds: the child keeps the caller's credentials, and Uid, Gid
	// and Groups are not used (a caller that is not root starting a
	// child of its own, such as a ghost).
	KeepCreds bool
	// Pdeathsig is sent to the child when the thread that started it
	// exits (see PR_SET_PDEATHSIG); Go ends a thread only when a goroutine
	// exits while locked to it.
	Pdeathsig syscall.Signal
	// Notify, when not empty, is a seccomp filter the child installs
	// with a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) while still root,
	// before it drops its credentials; it sends the listener's fd with
	// SCM_RIGHTS over NotifySock, its end of a unix socket pair (which
	// should be close-on-exec), and closes it, so the program never holds
	// it. The filter stays with the program and its descendants.
	Notify     []unix.SockFilter
	NotifySock int
}

// ErrPIDTaken is returned (wrapped) when Attr.PID is in use (EEXIST); the
// caller may retry with PID 0.
var ErrPIDTaken = errors.New("pid taken")

// ChildError is a failure of the child between clone3 and execve, reported
// back through a close-on-exec pipe as os/exec does.
type ChildError struct {
	Path  string
	Dir   string
	Step  string // setsid, setpgid, dup, setctty, pdeathsig, chroot, setgroups, setresgid, setresuid, chdir or execve
	Errno syscall.Errno
}

func (e *ChildError) Error() string {
	step := e.Step
	if step == "chdir" {
		step += " " + e.Dir
	}
	return fmt.Sprintf("spawn %s: %s: %v (%s)", e.Path, step, e.Errno, unix.ErrnoName(e.Errno))
}

func (e *ChildError) Unwrap() error { return e.Errno }

// Start creates the process with clone3 (set_tid = {PID} when PID != 0,
// CLONE_PIDFD, and on amd64 and arm64 CLONE_VM|CLONE_VFORK, as os/exec
// does, so that the cost does not grow with the caller's memory), then in
// the child: setsid or setpgid, dup the Files into place, setctty,
// pdeathsig, chroot, setgroups, setresgid, setresuid (not with KeepCreds),
// chdir, an empty signal mask, execve. It
// returns the PID it got, as the caller's PID namespace sees it, and a
// pidfd the caller must close. A failure in the child comes back as a
// *ChildError naming the step and the errno, and that child has been
// reaped.
//
// Start must not race with a wait4(-1) elsewhere in the process (a
// Reaper's, say): it reaps a failed child by PID. Use Reaper.Start there.
//
// With CLONE_VFORK the calling thread holds its Go P until the child's
// execve is done, and the runtime cannot stop the world meanwhile. So Path
// and Dir must not be on a file system served by this process (a FUSE
// server in it, say): the child would wait for a server that cannot run,
// and the whole process would hang, as with os/exec.
func Start(a Attr) (pid int, pidfd int, err error) {
	p, err := fork(&a)
	if err != nil {
		return 0, -1, err
	}
	if err := p.await(); err != nil {
		var ws unix.WaitStatus
		for {
			if _, werr := unix.Wait4(p.pid, &ws, unix.WALL, nil); werr != unix.EINTR {
				break
			}
		}
		unix.Close(p.pidfd)
		return 0, -1, err
	}
	return p.pid, p.pidfd, nil
}

// forked is a child that may not have reached execve yet.
type forked struct {
	a     *Attr
	pid   int
	pidfd int
	pipe  int // read end of the status pipe
}

// fork prepares a and clones. With vforkFlags it returns once the child
// has called execve or failed; elsewhere at once. Either way the status is
// left in the pipe for await.
func fork(a *Attr) (*forked, error) {
	c, err := prepare(a)
	if err != nil {
		return nil, err
	}

	// syscall takes ForkLock for writing around its forks: code that
	// cannot create an fd close-on-exec atomically does it under the read
	// lock, and the child must not inherit such an fd half made.
	syscall.ForkLock.Lock()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		syscall.ForkLock.Unlock()
		return nil, fmt.Errorf("spawn %s: status pipe: %w", a.Path, err)
	}
	c.pipe = p[1]
	// The signal mask forkExec sets, and leaves for us to restore, is this
	// thread's.
	runtime.LockOSThread()
	pid, errno := forkExec(c)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&c.oldSigs)), 0, 8, 0, 0)
	runtime.UnlockOSThread()
	syscall.ForkLock.Unlock()
	syscall.Close(p[1])
	runtime.KeepAlive(c)
	if errno != 0 {
		syscall.Close(p[0])
		return nil, cloneError(a, errno)
	}
	return &forked{a: a, pid: int(pid), pidfd: int(c.pidfd), pipe: p[0]}, nil
}

// await reads the status pipe until the child's execve closes it (nil) or
// the child reports a failure.
func (p *forked) await() error {
	defer syscall.Close(p.pipe)
	var buf [8]byte
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(p.pipe, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("spawn %s: read status pipe: %w", p.a.Path, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	switch n {
	case 0:
		return nil
	case len(buf):
		msg := binary.NativeEndian.Uint64(buf[:])
		step, errno := int(msg>>32), syscall.Errno(uint32(msg))
		name := "step " + fmt.Sprint(step)
		if step > 0 && step < len(stepNames) {
			name = stepNames[step]
		}
		return &ChildError{Path: p.a.Path, Dir: p.a.Dir, Step: name, Errno: errno}
	default:
		return fmt.Errorf("spawn %s: short status from child: %w", p.a.Path, syscall.EPIPE)
	}
}

// prepare turns a into what the child needs: every byte it reads is made
// here, before clone3.
func prepare(a *Attr) (*child, error) {
	switch {
	case !filepath.IsAbs(a.Path):
		return nil, fmt.Errorf("spawn %q: path is not absolute", a.Path)
	case a.PID < 0 || a.PID > math.MaxInt32:
		return nil, fmt.Errorf("spawn %s: pid %d out of range", a.Path, a.PID)
	case a.Setctty && !a.Setsid:
		return nil, fmt.Errorf("spawn %s: Setctty needs Setsid", a.Path)
	case a.Setpgid && a.Setsid:
		return nil, fmt.Errorf("spawn %s: Setpgid and Setsid exclude each other", a.Path)
	case a.Setctty && (len(a.Files) == 0 || a.Files[0] < 0):
		return nil, fmt.Errorf("spawn %s: Setctty needs a terminal as Files[0]", a.Path)
	}
	argv := a.Argv
	if len(argv) == 0 {
		argv = []string{a.Path}
	}
	c := &child{
		allSigs:   ^uint64(0),
		uid:       uintptr(a.Uid),
		gid:       uintptr(a.Gid),
		setsid:    a.Setsid,
		setpgid:   a.Setpgid,
		keepCreds: a.KeepCreds,
		setctty:   a.Setctty,
		pdeathsig: uintptr(a.Pdeathsig),
	}
	// CLONE_CLEAR_SIGHAND (Linux 5.5, as set_tid) resets Go's handlers in
	// the child at once: 62 rt_sigaction calls fewer in a child whose
	// parent waits for its execve (CLONE_VFORK).
	c.clone.flags = unix.CLONE_PIDFD | unix.CLONE_CLEAR_SIGHAND | vforkFlags
	c.clone.exitSignal = uint64(unix.SIGCHLD)
	c.tid[0] = int32(a.PID)
	c.pidfd = -1

	var err error
	if c.path, err = syscall.BytePtrFromString(a.Path); err != nil {
		return nil, fmt.Errorf("spawn %q: %w", a.Path, err)
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return nil, fmt.Errorf("spawn %s: argv: %w", a.Path, err)
	}
	envp, err := syscall.SlicePtrFromStrings(a.Env)
	if err != nil {
		return nil, fmt.Errorf("spawn %s: env: %w", a.Path, err)
	}
	c.argv, c.envv = &argvp[0], &envp[0]
	c.traced = a.Traced
	dir := a.Dir
	if a.Root != "" {
		if c.root, err = syscall.BytePtrFromString(a.Root); err != nil {
			return nil, fmt.Errorf("spawn %s: root: %w", a.Path, err)
		}
		// The working directory would otherwise stay outside the root.
		if dir == "" {
			dir = "/"
		}
	}
	if dir != "" {
		if c.dir, err = syscall.BytePtrFromString(dir); err != nil {
			return nil, fmt.Errorf("spawn %s: dir: %w", a.Path, err)
		}
	}

	c.fds = append([]int(nil), a.Files...)
	c.nextfd = max(3, len(c.fds))
	for _, fd := range c.fds {
		c.nextfd = max(c.nextfd, fd+1)
	}
	if len(a.Groups) > 0 {
		groups := append([]uint32(nil), a.Groups...)
		c.groups, c.ngroups = &groups[0], uintptr(len(groups))
	}
	if a.Pdeathsig != 0 {
		c.ppid = uintptr(syscall.Getpid())
	}
	if len(a.Notify) > 0 {
		if a.NotifySock < 0 {
			return nil, fmt.Errorf("spawn %s: Notify needs a NotifySock", a.Path)
		}
		prog := append([]unix.SockFilter(nil), a.Notify...)
		c.notify = true
		c.prog = unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		c.notifySock = a.NotifySock
		c.nextfd = max(c.nextfd, a.NotifySock+1)
		c.iov = unix.Iovec{Base: &c.byte1[0]}
		c.iov.SetLen(1)
		c.msg.Iov = &c.iov
		c.msg.SetIovlen(1)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&c.cmsg[0]))
		h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
		h.SetLen(unix.CmsgLen(4))
		c.msg.Control = &c.cmsg[0]
		c.msg.SetControllen(unix.CmsgSpace(4))
	}
	return c, nil
}

// cloneError explains a failed clone3.
func cloneError(a *Attr, errno syscall.Errno) error {
	if a.PID == 0 {
		return fmt.Errorf("spawn %s: clone3: %w", a.Path, errno)
	}
	switch errno {
	case syscall.EEXIST:
		return fmt.Errorf("spawn %s: clone3 with pid %d: %w: %w", a.Path, a.PID, ErrPIDTaken, errno)
	case syscall.EPERM:
		return fmt.Errorf("spawn %s: clone3 with pid %d: %w: choosing a PID needs CAP_SYS_ADMIN over the user namespace that owns the PID namespace",
			a.Path, a.PID, errno)
	case syscall.EINVAL:
		return fmt.Errorf("spawn %s: clone3 with pid %d: %w: outside 1..pid_max?", a.Path, a.PID, errno)
	}
	return fmt.Errorf("spawn %s: clone3 with pid %d: %w", a.Path, a.PID, errno)
}
