package ghost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The control socket's wire format; stub.c has its own copy.
const (
	reqSize   = 32 // type, fdmask, token, flags, reserved
	replySize = 8  // type, arg

	reqStart     = 1
	reqSetpgid   = 1 // flag: the sibling gets a process group of its own
	reqForwarded = 2 // flag: the caller forwards its signals (Group.Forwarded)

	replyCloned  = 1 // arg: the sibling's PID, from the template
	replyRunning = 2 // arg: the sibling's PID, from the sibling
	replyFailed  = 3 // arg: errno; no sibling was made
)

// ErrClosed is returned by Start on a closed Group.
var ErrClosed = errors.New("ghost: group closed")

// errNotStarted says that a template did not act on a request: it had
// exited, or refused. Start then execs the ghost instead.
var errNotStarted = errors.New("template started no ghost")

// Group starts the ghosts of one job: all run Argv, reach the master at
// Socket, and share one address space, so that a ghost past the first
// costs a kilobyte of stack and no page tables of its own.
//
// The first Start execs the stub as a template: an ordinary ghost that
// also holds a control socket to this process. Each later Start asks the
// template (over that socket) for a sibling: a process the template
// clones with CLONE_VM|CLONE_PARENT, so it is a child of this process,
// with its own PID, fds, signal handlers and pending signals, on a stack
// slice of its own. It says hello to the master with its own token as
// any ghost does; nothing on the master's side tells them apart. If the
// template has exited, Start execs a new template for that ghost.
//
// Each ghost is a child of the caller, who must reap it (wait4). What a
// sibling gets from the template rather than from the caller at the
// time of its Start: working directory, rlimits, credentials and, unless
// Setpgid, process group. /proc/PID/environ of a sibling is the
// template's (one address space), so it shows the template's token, not
// its own.
//
// A template answers no request while it is stopped (SIGSTOP) or still
// in its connect to a master whose backlog is full, so a Start waits that
// long; an exec'd ghost would have waited there on its own.
//
// Group is safe for concurrent use; Starts run one at a time.
type Group struct {
	Argv   []string // the remote argv; Argv[0] shows in ps
	Socket string   // the master's unix socket path ("@name": abstract)
	// Setpgid puts each ghost in a new process group of its own;
	// otherwise it joins the caller's.
	Setpgid bool
	// Forwarded says that the caller passes the signals it receives
	// (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2) on to the
	// remote processes itself, as bpsh does (through the master, since a
	// kill to the ghost could merge with the kernel's copy pending there):
	// a ghost then drops the copies the
	// kernel sends (si_code SI_KERNEL: a terminal's ^C, ^\ or hangup,
	// which reach the caller's whole process group), so that each reaches
	// the remote process once. A signal sent with kill to a ghost is
	// relayed either way.
	Forwarded bool
	// Cred, if set, is whom the ghosts run as (a master starting ghosts
	// for a process on a node); otherwise they are the caller's.
	Cred *syscall.Credential

	mu     sync.Mutex  // guards the fields below, and is held through a Start
	ctl    *os.File    // our end of the live template's control socket, or nil
	pre    *prestarted // a template waiting for its token (Prestart), or nil
	closed bool
}

// Start starts a ghost with tok, and files as its fds 0, 1 and 2 (nil:
// closed in the ghost; Start does not change them, nor their blocking
// mode), and returns its PID. It connects to the socket by itself, after
// Start returns.
func (g *Group) Start(tok Token, files [3]*os.File) (int, error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, ErrClosed
	}
	return g.startLocked(tok, files)
}

// startLocked is Start under g.mu.
func (g *Group) startLocked(tok Token, files [3]*os.File) (int, error) {
	if g.pre != nil {
		if pid, ok := g.usePrestarted(tok, files); ok {
			return pid, nil
		}
	}
	if g.ctl != nil {
		pid, err := g.ask(tok, files)
		if err == nil {
			return pid, nil
		}
		// Not acted on (ask makes sure): this ghost becomes the
		// next template, in an address space of its own.
		g.ctl.Close()
		g.ctl = nil
	}
	pid, err := g.startTemplate(tok.String(), files)
	if err != nil {
		return 0, fmt.Errorf("ghost: start %s: %w", g.Argv[0], err)
	}
	return pid, nil
}

// Close stops the template from making siblings; the ghosts started go on.
// A Start after Close fails with ErrClosed.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.pre != nil {
		g.dropPrestarted()
	}
	if g.ctl != nil {
		g.ctl.Close()
		g.ctl = nil
	}
	return nil
}

// flags are a request's flags for g's settings.
func (g *Group) flags() uint32 {
	var f uint32
	if g.Setpgid {
		f |= reqSetpgid
	}
	if g.Forwarded {
		f |= reqForwarded
	}
	return f
}

func (g *Group) check() error {
	if len(g.Argv) == 0 {
		return errors.New("ghost: start: empty argv")
	}
	if g.Socket == "" {
		return fmt.Errorf("ghost: start %s: no socket path", g.Argv[0])
	}
	if len(g.Socket) > sunPathMax || strings.IndexByte(g.Socket, 0) >= 0 {
		return fmt.Errorf("ghost: start %s: socket path %q: too long or has a NUL", g.Argv[0], g.Socket)
	}
	return nil
}

// startTemplate execs the ghost as the group's template, with a control
// socket; token as execGhost takes it.
func (g *Group) startTemplate(token string, files [3]*os.File) (int, error) {
	// SOCK_SEQPACKET: a request and a reply are each one message, and
	// a closed peer reads as a zero-length one.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("control socketpair: %w", err)
	}
	pid, err := execGhost(g, token, files, pair[1])
	unix.Close(pair[1])
	if err != nil {
		unix.Close(pair[0])
		return 0, err
	}
	// A blocking fd (no SOCK_NONBLOCK): Fd gives it as it is.
	g.ctl = os.NewFile(uintptr(pair[0]), "ghost-control")
	return pid, nil
}

// ask asks the template for a sibling and returns its PID, or an error
// when no ghost was started.
func (g *Group) ask(tok Token, files [3]*os.File) (int, error) {
	reply, err := g.send(tok, files)
	if err != nil {
		return 0, err
	}
	defer unix.Close(reply)
	return g.await(reply)
}

// send sends the template a request for a sibling and returns the reply
// socket to read its answer on (await), or an error when the request did
// not go.
//
// The request brings a reply socket of its own, whose only holders are
// the template and, once cloned, the sibling: so its closing unanswered
// means that neither acted on the request (also when the template exited
// with the request still queued, which drops the fds in flight). The
// template says REPLY_CLONED as soon as it has the sibling's PID, and the
// sibling says REPLY_RUNNING first thing, so one of them tells even if
// the other dies in between. The first PID is the answer: waiting for
// the sibling's too would cost a wakeup more per Start.
func (g *Group) send(tok Token, files [3]*os.File) (int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("reply socketpair: %w", err)
	}
	dups, err := dupFiles(files)
	if err != nil {
		unix.Close(pair[0])
		unix.Close(pair[1])
		return -1, err
	}
	fds := []int{pair[1]}
	defer func() { closeFDs(fds) }()
	var req [reqSize]byte
	binary.LittleEndian.PutUint32(req[0:4], reqStart)
	for i, fd := range dups {
		if fd >= 0 {
			fds = append(fds, fd)
			req[4] |= 1 << i
		}
	}
	copy(req[8:24], tok[:])
	binary.LittleEndian.PutUint32(req[24:28], g.flags())
	if err := unix.Sendmsg(int(g.ctl.Fd()), req[:], unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL); err != nil {
		unix.Close(pair[0])
		return -1, fmt.Errorf("%w: send request: %w", errNotStarted, err)
	}
	return pair[0], nil
}

// await reads the answer to a request on its reply socket: the sibling's
// PID, or an error when no ghost was started.
func (g *Group) await(reply int) (int, error) {
	var b [replySize + 1]byte // one more: a reply of the wrong size shows
	n, err := unix.Read(reply, b[:])
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Read(reply, b[:])
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: read reply: %w", errNotStarted, err)
	case n == 0:
		return 0, errNotStarted
	case n != replySize:
		return 0, fmt.Errorf("%w: reply of %d bytes", errNotStarted, n)
	}
	typ, arg := binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint32(b[4:8])
	switch typ {
	case replyCloned, replyRunning:
		pid := int(arg)
		if g.Setpgid {
			// The sibling does so too, first thing, but may not have
			// run yet: this way it leads its group when Start returns,
			// as an exec'd ghost does. It never execs, so this cannot
			// fail but for ESRCH (it was killed already).
			unix.Setpgid(pid, pid)
		}
		return pid, nil
	case replyFailed:
		return 0, fmt.Errorf("%w: %w", errNotStarted, unix.Errno(arg))
	}
	return 0, fmt.Errorf("%w: reply type %d", errNotStarted, typ)
}
