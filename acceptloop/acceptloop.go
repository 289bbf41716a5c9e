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
// Serve pauses and tries again.
func Serve(l net.Listener, serve func(net.Conn), warn func(error)) error {
	pause := time.Duration(0)
	for {
		c, err := l.Accept()
		if err == nil {
			pause = 0
			go serve(c)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if !Passing(err) {
			return err
		}
		warn(err)
		pause = min(max(2*pause, firstPause), maxPause)
		time.Sleep(pause)
	}
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
