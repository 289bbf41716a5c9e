package master

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// lingerWait bounds how long the master keeps an ended process's ghost
// connection open for the ghost to read how to die.
const lingerWait = 5 * time.Second

// closeGhost closes the connection of a ghost that has been told how to
// die (finish) once the ghost has hung up, lingerWait at the latest. A
// ghost that has a signal to relay when the command comes (the SIGCONT
// that continues a stopped ghost, a signal that crossed its process's
// end) may write it first and read the command only after: a connection
// already closed fails that write, which the ghost takes for a master
// gone, and it dies of SIGKILL instead of its process's status.
//
// What the ghost still says is a few events, read into a buffer of that
// size: io.Discard's are 8 kB, one for each ghost lingering at once, and
// a tree of thousands of processes ends at once.
func closeGhost(c ghostConn) {
	shutdownWrite(c)
	go func() {
		c.SetReadDeadline(time.Now().Add(lingerWait))
		var buf [4 * ghost.EventSize]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				break
			}
		}
		c.Close()
	}()
}

// linger is closeGhost for a ghost the watch has (id, its socket fd, c):
// the watch goes on reading it, with no goroutine of its own and no
// read deadline, where closeGhost parks one on each ghost that ends (a
// goroutine started, its stack grown, a timer, per descendant).
//
// A ghost that drains (ghost.ForkedDrains) reads its status even from a
// connection closed: its socket is let go at once, and its end costs the
// master no wake-up, read or epoll_ctl (the close takes the socket out
// of the epoll: no one else holds it).
func (w *ghostWatch) linger(id uint64, fd int, c ghostConn) {
	if sc, ok := c.(*sockConn); ok && sc.drains.Load() {
		w.mu.Lock()
		if w.ready[id] != nil {
			delete(w.ready, id)
			w.ready = shrunk(w.ready, &w.peak)
		}
		w.mu.Unlock()
		c.Close()
		return
	}
	shutdownWrite(c)
	l := &lingering{w: w, id: id, fd: fd, c: c}
	w.mu.Lock()
	if w.closed || w.ready[id] == nil {
		w.mu.Unlock()
		closeGhost(c)
		return
	}
	w.ready[id] = l.ready
	l.timer = time.AfterFunc(w.lingerFor, func() {
		w.mu.Lock()
		over := l.over
		l.forgetLocked()
		w.mu.Unlock()
		if !over {
			c.Close()
		}
	})
	// The ghost may have hung up already: its edge came to the old
	// handler.
	l.ready()
	closing := w.closing
	w.closing = nil
	w.mu.Unlock()
	for _, c := range closing {
		c.Close()
	}
}

// lingering is an ended process's ghost socket, read until the ghost
// hangs up.
type lingering struct {
	w     *ghostWatch
	id    uint64
	fd    int
	c     ghostConn
	timer *time.Timer
	over  bool // forgotten by the watch; under w.mu
}

// ready reads what the ghost still says, and lets the socket go once it
// has hung up; under w.mu, as the watch's handlers run.
func (l *lingering) ready() {
	var buf [4 * ghost.EventSize]byte
	oob := l.w.oob[:]
	for {
		k, oobn, _, _, err := unix.Recvmsg(l.fd, buf[:], oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
		if oobn > 0 {
			fds, _ := unixRights(oob[:oobn])
			closeAll(fds) // a fork's socket, come too late: its ghost dies
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case err == nil && k > 0:
			continue
		}
		l.timer.Stop()
		if !l.over {
			l.forgetLocked()
			l.w.closing = append(l.w.closing, l.c)
		}
		return
	}
}

// forgetLocked takes the socket out of the watch, before it is closed.
func (l *lingering) forgetLocked() {
	if l.over {
		return
	}
	l.over = true
	delete(l.w.ready, l.id)
	l.w.ready = shrunk(l.w.ready, &l.w.peak)
	if !l.w.closed {
		unix.EpollCtl(l.w.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
	}
}
