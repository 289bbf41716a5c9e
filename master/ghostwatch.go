package master

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ghostWatch waits on every ghost's socket at once, with one epoll, so that
// a live process needs no goroutine parked on its ghost: with 15,000 of
// them that was 15,000 stacks of 4 kB, for sockets that say something
// only when a signal comes. When a socket has something, the watch only
// wakes the process's relay, which reads it itself: nothing of one ghost
// is done on the watch's goroutine, and a slow node cannot hold up the
// others' signals.
//
// The epoll is edge-triggered: a wake-up means new bytes (or the hang-up)
// since the relay last read the socket dry.
type ghostWatch struct {
	ep   *os.File // the epoll, in Go's poller: its goroutine parks, holding no thread
	epfd int      // ep's number (ep.Fd would make it blocking)

	mu     sync.Mutex // guards the fields below
	wake   map[uint64]chan<- struct{}
	next   uint64
	closed bool
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
	return &ghostWatch{ep: os.NewFile(uintptr(fd), "ghost-epoll"), epfd: fd, wake: make(map[uint64]chan<- struct{})}, nil
}

// add watches fd, waking wake (a channel of capacity 1) whenever it has
// something to read or has hung up, and once at once: the ghost may have
// spoken before. The caller calls remove before it closes fd.
func (w *ghostWatch) add(fd int, wake chan<- struct{}) (uint64, error) {
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
	w.wake[id] = wake
	notify(wake)
	return id, nil
}

// remove stops watching fd. Under mu, as the wake-ups are sent: once it
// returns, no wake-up for id is sent, and fd may be closed (its number
// then reused by the next ghost).
func (w *ghostWatch) remove(id uint64, fd int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.wake, id)
	if !w.closed {
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// run sends the wake-ups until close.
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
				if wake := w.wake[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]; wake != nil {
					notify(wake)
				}
			}
			w.mu.Unlock()
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

// close ends run; relays still running go on without wake-ups.
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
