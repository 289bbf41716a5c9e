package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ghostConn is a ghost's connection to the master: a *net.UnixConn
// accepted on the master's socket, or the *os.File of the end of a
// socket pair a parent ghost handed over for its new child (pairConn).
// Both are in Go's poller, so a write to a ghost that does not read (a
// stopped one) parks a goroutine, not a thread; the ghost watch reads
// the socket itself (readGhost).
type ghostConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SyscallConn() (syscall.RawConn, error)
}

// pairConn makes fd, the master's end of a descendant ghost's socket
// pair, its connection. An os.File rather than net.FileConn's conn:
// that dups the fd and asks the kernel for its type and both addresses
// (six calls more per fork, and two addresses held for the ghost's
// life), of which the master uses nothing.
func pairConn(fd int) (ghostConn, error) {
	if fd <= 2 {
		// os.File takes a write error on fds 1 and 2 for a closed
		// stdout, and raises SIGPIPE: a master started with them closed
		// must not die of a ghost gone.
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("dup: %w", err)
		}
		fd = nfd
	}
	// O_NONBLOCK alone: what else F_SETFL sets (O_APPEND, O_ASYNC, ...)
	// the ghost may have set, and the master does not want. Non-blocking
	// first, so that os.NewFile puts it in the poller.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), "ghost"), nil
}

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
	if uc, ok := c.(*net.UnixConn); ok {
		_, err := bufs.WriteTo(uc) // writev, under the conn's write lock
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
	k, err := c.Write(one) // the whole of it under the file's write lock
	if err == nil && k < n {
		err = errors.New("short write")
	}
	return err
}
