package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ghostConn is a ghost's connection to the master: a sockConn (a
// descendant's socket pair end, or an accepted ghost's connection taken
// out of Go's poller, ownConn), or the *net.UnixConn of a ghost come back
// to a restarted master. The ghost watch reads the socket itself
// (readGhost).
type ghostConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SyscallConn() (syscall.RawConn, error)
}

// sockConn is a ghost's socket outside Go's poller. Go's poller watches
// every socket for EPOLLOUT as well (edge-triggered, every event), and a
// unix socket turns writable again each time its peer reads: each command
// a ghost read woke a thread of the master, blocked in the poller, for
// nothing (three a fork: the parent's CmdFork, the child's CmdWhere and
// its status), and each descendant cost two epoll_ctl calls more. The
// ghost watch (procs_ghostwatch.go) reads it; a write that finds it full
// parks until the watch sees it writable, asked for only then (wantOut).
// A write to a stopped ghost so parks a goroutine, not a thread.
type sockConn struct {
	fd int
	// drains: the ghost reads what its socket holds before it takes a
	// failed write for its master gone (ghost.ForkedDrains), so its end
	// need not linger (ghostWatch.linger).
	drains atomic.Bool
	// wmu is held by a write, so that a command's bytes stay together,
	// and by Close around the close, so that no call uses fd after it.
	wmu sync.Mutex

	mu     sync.Mutex // guards the fields below
	closed bool
	w      *ghostWatch // the watch that has it (watchedBy), nil before
	id     uint64
	wake   chan struct{} // made by the first write that waits
	rdl    time.Time     // the read deadline (Read)
}

// lookEvery is how often a socket no watch has is looked at again when a
// read or write must wait: rare (a write before the watch has it, or
// closeGhost's read once the watch is gone), and never a thread blocked.
const lookEvery = 10 * time.Millisecond

// pairConn makes fd, the master's end of a descendant ghost's socket
// pair, its connection; drains says the ghost reads its socket dry before
// it takes the master for gone (ghost.ParseForked).
func pairConn(fd int, drains bool) (*sockConn, error) {
	if fd <= 2 {
		// A write error on fds 1 and 2 raises SIGPIPE in a Go program:
		// a master started with them closed must not die of a ghost
		// gone.
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("dup: %w", err)
		}
		fd = nfd
	}
	// Left as the ghost made it (blocking): every call on it says
	// MSG_DONTWAIT, and an F_SETFL was a call more on the fork's path.
	c := &sockConn{fd: fd}
	c.drains.Store(drains)
	return c, nil
}

// ghostDrains notes that p's ghost said ghost.ForkedDrains.
func (p *proc) ghostDrains() {
	if sc, ok := p.ghost.(*sockConn); ok {
		sc.drains.Store(true)
	}
}

// drains says whether p's ghost said ghost.ForkedDrains.
func (p *proc) drains() bool {
	sc, ok := p.ghost.(*sockConn)
	return ok && sc.drains.Load()
}

// ownConn takes an accepted ghost's connection out of Go's poller: the
// socket goes on as a sockConn (a dup of its fd), and c is closed.
func ownConn(c *net.UnixConn) (*sockConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("dup: %w", derr)
	}
	c.Close()
	return &sockConn{fd: fd}, nil
}

// Write writes all of b, waiting while the socket is full.
func (c *sockConn) Write(b []byte) (int, error) {
	bufs := [][]byte{b}
	return c.writeBufs(bufs)
}

// writeBufs writes bufs as one: no other write comes between them.
func (c *sockConn) writeBufs(bufs [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	done := 0
	for len(bufs) > 0 {
		if c.isClosed() {
			return done, os.ErrClosed
		}
		k, err := writev(c.fd, bufs)
		if k > 0 {
			done += k
			bufs = consume(bufs, k)
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			c.waitWritable()
		default:
			return done, &os.PathError{Op: "write", Path: "ghost", Err: err}
		}
	}
	return done, nil
}

// writev writes bufs without waiting (a descendant's socket is blocking:
// pairConn), and with MSG_NOSIGNAL: a ghost gone is an error, not a
// SIGPIPE.
func writev(fd int, bufs [][]byte) (int, error) {
	const flags = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	if len(bufs) == 1 {
		return unix.SendmsgN(fd, bufs[0], nil, nil, flags)
	}
	return unix.SendmsgBuffers(fd, bufs, nil, nil, flags)
}

// consume drops the first k bytes of bufs.
func consume(bufs [][]byte, k int) [][]byte {
	for len(bufs) > 0 && k >= len(bufs[0]) {
		k -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][k:]
	}
	return bufs
}

func (c *sockConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// waitWritable waits, with wmu held, until the socket may take more or
// is closed: for the watch's word if it has the socket, else lookEvery.
func (c *sockConn) waitWritable() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	w, id, wake := c.w, c.id, c.wake
	c.mu.Unlock()
	if w == nil || !w.wantOut(id, c.fd, true) {
		time.Sleep(lookEvery)
		return
	}
	<-wake // poke: the watch called the handler, or Close
	w.wantOut(id, c.fd, false)
}

// poke wakes a write waiting for the socket; the ghost watch's handler
// calls it on any event of the socket (the write then tries again).
func (c *sockConn) poke() {
	c.mu.Lock()
	if c.wake != nil {
		notify(c.wake)
	}
	c.mu.Unlock()
}

// watchedBy notes the watch entry that has the socket now.
func (c *sockConn) watchedBy(w *ghostWatch, id uint64) {
	c.mu.Lock()
	c.w, c.id = w, id
	c.mu.Unlock()
}

// Read reads what the ghost says, waiting (lookEvery) up to the read
// deadline: closeGhost's, for a socket no watch has.
func (c *sockConn) Read(b []byte) (int, error) {
	for {
		c.wmu.Lock()
		if c.isClosed() {
			c.wmu.Unlock()
			return 0, os.ErrClosed
		}
		k, _, err := unix.Recvfrom(c.fd, b, unix.MSG_DONTWAIT)
		c.wmu.Unlock()
		switch {
		case err == nil && k == 0 && len(b) > 0:
			return 0, io.EOF
		case err == nil:
			return k, nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EAGAIN):
			return 0, &os.PathError{Op: "read", Path: "ghost", Err: err}
		}
		c.mu.Lock()
		dl := c.rdl
		c.mu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		time.Sleep(lookEvery)
	}
}

func (c *sockConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	return nil
}

// Close closes the socket once a write under way has given up.
func (c *sockConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return os.ErrClosed
	}
	c.closed = true
	if c.wake != nil {
		notify(c.wake)
	}
	c.mu.Unlock()
	c.wmu.Lock()
	err := unix.Close(c.fd)
	c.wmu.Unlock()
	return err
}

func (c *sockConn) SyscallConn() (syscall.RawConn, error) { return sockRaw{c}, nil }

// sockRaw is a sockConn's fd for Control; the socket is never waited on
// through it.
type sockRaw struct{ c *sockConn }

func (r sockRaw) Control(f func(fd uintptr)) error {
	r.c.wmu.Lock()
	defer r.c.wmu.Unlock()
	if r.c.isClosed() {
		return os.ErrClosed
	}
	f(uintptr(r.c.fd))
	return nil
}

func (sockRaw) Read(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
func (sockRaw) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

// shutdownWrite ends the master's side of c: the ghost reads EOF after
// what was written, and may still write.
func shutdownWrite(c ghostConn) error {
	if uc, ok := c.(*net.UnixConn); ok {
		return uc.CloseWrite()
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}

// writeBufs writes bufs to c as one write, so that no other writer's
// bytes come between them (a head and its data).
func writeBufs(c ghostConn, bufs net.Buffers) error {
	switch c := c.(type) {
	case *sockConn:
		_, err := c.writeBufs(bufs)
		return err
	case *net.UnixConn:
		_, err := bufs.WriteTo(c) // writev, under the conn's write lock
		return err
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	one := make([]byte, 0, n)
	for _, b := range bufs {
		one = append(one, b...)
	}
	k, err := c.Write(one)
	if err == nil && k < n {
		err = errors.New("short write")
	}
	return err
}
