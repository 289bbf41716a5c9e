package master

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ghostWatch waits on every ghost's socket at once, with one epoll, so that
// a live process needs no goroutine parked on its ghost: with 15,000 of
// them that was 15,000 stacks of 4 kB, for sockets that say something
// only when a signal comes. When a socket has something, the watch calls
// the process's handler, which must not block: it reads the socket dry
// and queues what is for the node (proc.send), so a slow node holds up no
// other ghost's signals.
//
// The epoll is edge-triggered: a call means new bytes (or the hang-up)
// since the handler last read the socket dry.
type ghostWatch struct {
	ep   *os.File // the epoll, in Go's poller: its goroutine parks, holding no thread
	epfd int      // ep's number (ep.Fd would make it blocking)

	mu     sync.Mutex // guards the fields below; held while a handler runs
	ready  map[uint64]func()
	peak   int // the most ready held (shrunk)
	next   uint64
	closed bool
	oob    [pairFDRoom]byte // a handler's recvmsg control buffer (readGhost)
	// closing is what lingering handlers are done with, closed by run
	// once it has let go of mu (a close may wait).
	closing []io.Closer
	// lingerFor is lingerWait, shorter in tests.
	lingerFor time.Duration
}

func newGhostWatch() (*ghostWatch, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ghost watch: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller (an epoll
	// is readable while it has events).
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ghost watch: set non-blocking: %w", err)
	}
	return &ghostWatch{ep: os.NewFile(uintptr(fd), "ghost-epoll"), epfd: fd, ready: make(map[uint64]func()), lingerFor: lingerWait}, nil
}

// add watches fd, calling ready whenever it has something to read or has
// hung up, and once at once: the ghost may have spoken before. The caller
// calls remove before it closes fd.
func (w *ghostWatch) add(fd int, ready func()) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errors.New("ghost watch: closed")
	}
	w.next++
	id := w.next
	// The event's data is the id, not fd: a number a closed ghost's
	// socket had may be the next ghost's before a stale event is read.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return 0, fmt.Errorf("ghost watch: add fd %d: %w", fd, err)
	}
	w.ready[id] = ready
	ready()
	return id, nil
}

// wantOut asks the watch to call id's handler when fd turns writable
// too (on), or no longer (off): a write that found the socket full
// waits for that (sockConn). Only then, for a writable socket's every
// read by its ghost would be an event. Reports whether id is watched.
func (w *ghostWatch) wantOut(id uint64, fd int, on bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.ready[id] == nil {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if on {
		ev.Events |= unix.EPOLLOUT
	}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev) == nil
}

// remove stops watching fd. Under mu, as the handlers run: once it
// returns, id's handler is not running and will not be called, and fd may
// be closed (its number then reused by the next ghost).
func (w *ghostWatch) remove(id uint64, fd int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.ready, id)
	w.ready = shrunk(w.ready, &w.peak)
	if !w.closed {
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// run calls the handlers until close.
func (w *ghostWatch) run() error {
	rc, err := w.ep.SyscallConn()
	if err != nil {
		return fmt.Errorf("ghost watch: %w", err)
	}
	events := make([]unix.EpollEvent, 128)
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), events, 0)
			if n <= 0 || err != nil {
				return false // nothing more: park until the epoll is readable
			}
			w.mu.Lock()
			for _, ev := range events[:n] {
				if ready := w.ready[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]; ready != nil {
					ready()
				}
			}
			closing := w.closing
			w.closing = nil
			w.mu.Unlock()
			for _, c := range closing {
				c.Close()
			}
		}
	})
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("ghost watch: %w", err)
}

// close ends run; processes still running go on without their ghosts'
// signals.
func (w *ghostWatch) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.ep.Close()
}

// notify wakes whoever waits on c, unless a wake-up is already pending.
func notify(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
