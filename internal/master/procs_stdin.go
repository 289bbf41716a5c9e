package master

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/streamcopy"
)

// stdinCopy copies the ghost's stdin to the process until EOF, or until
// stop (the process has ended, or moves on to another node).
//
// Whatever epoll takes (a pipe, terminal or socket, blocking or not) is
// watched by the ghost watch, and read only when it has something, by a
// goroutine that lives while it does: a process whose stdin is open and
// quiet (bpsh's fan-out pipe, the user's terminal) costs no goroutine
// parked on it, and no read is left pending when the process ends, to
// take the next line typed to the shell or to hold the descriptor open
// (pdsh's exec module gives bpsh one socket as stdin and stdout, and
// waits for its EOF). A blocking descriptor is never read blindly: a
// socket with MSG_DONTWAIT, anything else only while poll says a read
// returns at once (see readNow). A file that cannot be watched (a regular
// file, which never blocks) is copied by a goroutine to its end.
type stdinCopy struct {
	p  *proc
	ch ssh.Channel
	fd int
	id uint64
	// blocking says fd's description is in blocking mode (one we share
	// with the caller, so we may not change it); sock that it is a socket,
	// file a regular file (procs_stdin_file.go).
	blocking, sock, file bool
	// done closes when the copy has stopped: a process moved to another
	// node gets the rest of its stdin there, none of it lost to the copy
	// that fed the old node.
	done chan struct{}
	// acks: the node acknowledges stdin (protocol 3): what is sent is
	// kept until it does (procs_stdin_ack.go). quit closes at stop.
	acks bool
	quit chan struct{}

	mu       sync.Mutex // guards the fields below
	armed    bool       // id is known: a drain may start (and so stop)
	pending  bool       // the watch called before then
	draining bool       // a drain runs
	more     bool       // the watch called while it ran: read again before it ends
	stopped  bool
	ended    bool // done is closed
}

// closed is a closed channel: the done of a copy there is none of. Made at
// its first use, not by the package's initialiser, which every run of the
// binary (bpsh's too) would pay for.
func closed() chan struct{} {
	closedOnce.Do(func() {
		closedChan = make(chan struct{})
		close(closedChan)
	})
	return closedChan
}

var (
	closedOnce sync.Once
	closedChan chan struct{}
)

// noStdin is the copy of every process that has no stdin: one, which
// nothing changes (stop returns at once).
func noStdin() *stdinCopy {
	noStdinOnce.Do(func() { noStdinCopy = &stdinCopy{done: closed(), stopped: true, ended: true} })
	return noStdinCopy
}

var (
	noStdinOnce sync.Once
	noStdinCopy *stdinCopy
)

// pumpIn starts the copy of stdin to ch; without stdin, the process reads
// EOF at once.
func (p *proc) pumpIn(ch ssh.Channel) *stdinCopy {
	if !p.hasStdin() {
		if _, relay := ch.(*spacemux.Relay); !relay { // a relay has no stdin to end
			p.send(func() { closeStdin(ch) })
		}
		return noStdin()
	}
	in := &stdinCopy{p: p, ch: ch, fd: -1, done: make(chan struct{}), quit: make(chan struct{}), acks: p.acksStdin()}
	f := p.files[0]
	if fd := rawFD(f); fd >= 0 {
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			in.fd, in.blocking = fd, fl&unix.O_NONBLOCK == 0
			var st unix.Stat_t
			in.sock = unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
		}
		in.file = isRegular(fd)
	}
	var last chan struct{} // the last channel's copy of a file
	if in.file {
		k := p.rs.kept()
		k.mu.Lock()
		last, k.lastFile = k.lastFile, in.done
		k.mu.Unlock()
	}
	if first := p.rs.kept().firstAck(); first != nil && in.acks {
		go in.resend(first, last) // then start
		return in
	}
	if in.file && in.acks {
		in.fileStart()
	}
	inGhost := in.acks && !in.file && !p.oldGhost && p.keeps()
	k := p.rs.kept()
	k.mu.Lock()
	k.inGhost = inGhost
	k.mu.Unlock()
	in.start()
	return in
}

// start watches the ghost's stdin, or copies a file that cannot be
// watched.
func (in *stdinCopy) start() {
	p, ch, f := in.p, in.ch, in.p.files[0]
	if in.fd >= 0 {
		id, err := p.m.ghosts.add(in.fd, in.ready)
		if err == nil {
			in.mu.Lock()
			in.id, in.armed = id, true
			start := in.pending && !in.stopped
			in.draining = start
			stopped := in.stopped
			in.mu.Unlock()
			if stopped { // while the resend ran: stop did not know id
				p.m.ghosts.remove(id, in.fd)
			}
			if start {
				go in.drain()
			}
			return
		}
		// Not pollable (epoll refuses regular files): copied below.
	}
	in.fd = -1
	f.SetReadDeadline(time.Time{}) // the stop of the copy that fed the node before a move
	go func() {
		streamcopy.Copy(ch, f)
		closeStdin(ch)
		in.mu.Lock()
		in.end()
		in.mu.Unlock()
	}()
}

// ready is the ghost watch's call: stdin has something (or has ended).
// It must not block: the reading and writing are a drain's.
func (in *stdinCopy) ready() {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.stopped:
	case !in.armed:
		in.pending = true
	case in.draining:
		in.more = true
	default:
		in.draining = true
		go in.drain()
	}
}

// drain copies what stdin has until it has no more (the watch is
// edge-triggered: until EAGAIN, or it calls no more), its end, or stop.
func (in *stdinCopy) drain() {
	buf := streamcopy.Borrow()
	defer streamcopy.Return(buf)
	for {
		if in.acks && !in.waitRoom() {
			in.mu.Lock()
			in.draining = false
			in.end()
			in.mu.Unlock()
			return
		}
		n, err := in.readNow(*buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			in.mu.Lock()
			if in.more && !in.stopped {
				in.more = false
				in.mu.Unlock()
				continue
			}
			in.draining = false
			if in.stopped {
				in.end()
			}
			in.mu.Unlock()
			return
		}
		var werr error
		if n > 0 {
			if in.acks {
				in.keep((*buf)[:n]) // sent again after a resume if lost
			}
			_, werr = in.ch.Write((*buf)[:n])
		}
		if n <= 0 || werr != nil { // the end of stdin (or an error), or of the channel
			closeStdin(in.ch)
			in.stop()
			in.mu.Lock()
			in.draining = false
			in.end()
			in.mu.Unlock()
			return
		}
		in.mu.Lock()
		stopped := in.stopped
		if stopped {
			in.draining = false
			in.end()
		}
		in.mu.Unlock()
		if stopped {
			return
		}
	}
}

// readNow reads what fd has, without ever waiting: EAGAIN when it has
// nothing. A blocking description shared with the caller is read so too:
// a read that waited could not be stopped, and would hold the descriptor
// (and with a terminal, take the user's next line) after the process
// ended. Only another reader of the same description taking the bytes
// between poll and read could still make read wait, until its next bytes.
func (in *stdinCopy) readNow(buf []byte) (int, error) {
	switch {
	case !in.blocking:
		return unix.Read(in.fd, buf)
	case in.sock:
		// recvfrom without an address: unix.Recvfrom would parse the
		// peer's, which a socketpair does not have.
		if len(buf) == 0 {
			return 0, nil
		}
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(in.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
	pfd := []unix.PollFd{{Fd: int32(in.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 0); err != nil {
		return 0, err
	} else if n == 0 {
		return 0, unix.EAGAIN
	}
	return unix.Read(in.fd, buf)
}

// stop ends the copy: once done is closed, no more of stdin is read for
// this channel. It does not wait: a drain may be writing to the channel,
// which its close ends.
func (in *stdinCopy) stop() {
	if in.p == nil {
		return // no stdin
	}
	in.mu.Lock()
	first := !in.stopped
	in.stopped = true
	idle, id, armed := !in.draining, in.id, in.armed
	in.mu.Unlock()
	if first {
		close(in.quit)
		in.p.rs.kept().wake()
	}
	if in.fd < 0 {
		in.p.files[0].SetReadDeadline(time.Now()) // only pollable files; others end anyway
		return
	}
	if first && armed { // else start removes it (a resend ran)
		// Before the file can be closed (the process's end) or watched
		// again (the next node's copy).
		in.p.m.ghosts.remove(id, in.fd)
	}
	if idle {
		in.mu.Lock()
		in.end()
		in.mu.Unlock()
	}
}

// end closes done, once; under mu.
func (in *stdinCopy) end() {
	if !in.ended {
		in.ended = true
		close(in.done)
	}
}
