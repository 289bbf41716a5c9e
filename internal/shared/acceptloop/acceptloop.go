// Package acceptloop accepts connections until its listener is closed,
// riding out the errors a busy server gets (out of file descriptors, out
// of memory) instead of ending: a master whose accept loop ended on
// EMFILE stayed deaf to every tool and ghost after the load was gone.
package acceptloop

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Backoff bounds the pause after a passing error: short at first, so a
// burst that frees descriptors is over soon, then at most a second.
const (
	firstPause = 5 * time.Millisecond
	maxPause   = time.Second
)

// Serve calls serve in a goroutine of its own for each connection l
// accepts, until l is closed (nil is returned) or fails with an error that
// does not pass (returned). Each passing error is given to warn, then
// Serve pauses and tries again. Out of descriptors, it closes what it
// accepts on its spare one (see ServeFull).
func Serve(l net.Listener, serve func(net.Conn), warn func(error)) error {
	return ServeFull(l, func(c net.Conn) { go serve(c) }, func(c net.Conn) { c.Close() }, warn)
}

// ServeFull is Serve with serve called in the loop, so that the caller
// starts (and counts) the goroutine itself (the master waits for all of
// them before it returns), and a spare descriptor held for when there are no
// others (EMFILE, ENFILE): it is closed, one connection accepted on it and
// given to full, which closes it or serves it (the master serves root's
// there, so that root is heard when a user has taken every descriptor),
// and it is opened again before the next accept. A connection refused so
// is closed at once rather than left to wait in the backlog, and the loop
// pauses as for any passing error when even the spare is gone. serve and
// full run in the loop: they must not block.
func ServeFull(l net.Listener, serve, full func(net.Conn), warn func(error)) error {
	spare := openSpare()
	defer func() {
		if spare >= 0 {
			syscall.Close(spare)
		}
	}()
	pause := time.Duration(0)
	for {
		if spare < 0 {
			spare = openSpare()
		}
		c, err := l.Accept()
		if err == nil {
			pause = 0
			serve(c)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if !Passing(err) {
			return err
		}
		if spare >= 0 && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			syscall.Close(spare)
			spare = -1
			if c, err := l.Accept(); err == nil {
				full(c) // full says so if it refuses: warn only when pausing
				continue
			}
		}
		warn(err)
		pause = min(max(2*pause, firstPause), maxPause)
		time.Sleep(pause)
	}
}

// openSpare opens the spare descriptor; -1 when there is none to be had.
func openSpare() int {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// Passing says whether an accept error is one of the load: the listener
// is fine and a later accept may succeed.
func Passing(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
