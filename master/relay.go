package master

import (
	"bytes"
	"errors"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/ghost"
	"github.com/bproc/bproc/localapi"
	"github.com/bproc/bproc/wire"
)

// serve relays between the ghost and its remote process, on whichever node
// it runs, until it has ended, and ends the ghost the same way.
//
// This is the one goroutine a live process has. It parks in relay's
// select on the node's requests and the ghost watch's wake-up; what needs
// a deep stack (JSON, the SSH transport's encryption) is done on
// goroutines that live only as long as that work, so that this stack
// stays at its first size for the process's life.
func (p *proc) serve(n *node, ch ssh.Channel, reqs <-chan *ssh.Request, outs outputStreams) {
	defer p.end(n)
	if err := p.watchGhost(); err != nil {
		p.m.log.Warn("ghost watch", "pid", p.pid, "err", err)
		ch.Close()
		p.finish(wire.ExitStatus{Code: 255}, true, errNodeDied)
		return
	}
	defer p.m.ghosts.remove(p.watchID, p.gfd) // before end closes the socket
	for {
		status := p.relay(ch, reqs, outs)
		if p.goneYet {
			// The ghost was killed: its remote process was killed with it.
			p.finish(wire.ExitStatus{Signal: syscall.SIGKILL}, true, "")
			return
		}
		// Moved to another node: the same relay goes on there.
		p.mu.Lock()
		next := p.next
		p.next = nil
		p.mu.Unlock()
		if next != nil && status == nil {
			ch, reqs, outs = next.ch, next.reqs, moved
			continue
		}
		if status == nil {
			p.finish(wire.ExitStatus{Signal: syscall.SIGKILL}, true, errNodeDied)
			return
		}
		p.finish(*status, true, "")
		return
	}
}

// watchGhost has the ghost watch wake the relay when the ghost speaks.
func (p *proc) watchGhost() error {
	rc, err := p.ghost.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(func(fd uintptr) { p.gfd = int(fd) }); err != nil {
		return err
	}
	p.wake = make(chan struct{}, 1)
	p.watchID, err = p.m.ghosts.add(p.gfd, p.wake)
	return err
}

// relay moves the process's stdio, signals and requests over ch until
// the node closes it, and returns the exit status the node reported, if
// it did. outs says which output streams the node sends on ch: only
// those get a copy.
func (p *proc) relay(ch ssh.Channel, reqs <-chan *ssh.Request, outs outputStreams) *wire.ExitStatus {
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()

	var out sync.WaitGroup
	inDone := p.pumpIn(ch)
	if outs.stdout {
		out.Go(func() { p.pumpOut(p.files[1], ch) })
	}
	if outs.stderr {
		out.Go(func() { p.pumpOut(p.files[2], ch.Stderr()) })
	}

	var status *wire.ExitStatus
	for reqs != nil {
		select {
		case req, ok := <-reqs:
			if !ok {
				reqs = nil
				break
			}
			p.request(req, &status)
		case <-p.wake:
			if !p.goneYet && p.readGhost() {
				// Its hang-up: the ghost was killed (SIGKILL), and
				// the remote process is killed too.
				p.goneYet = true
				p.signal(syscall.SIGKILL)
				p.send(outRequest{closeAfter: ch})
			}
		}
	}
	out.Wait()
	p.stopIn()
	ch.Close()
	p.mu.Lock()
	moving := p.next != nil
	p.mu.Unlock()
	if moving {
		<-inDone // a file that cannot be interrupted ends with the process
	}
	return status
}

// request handles one request of the node's.
func (p *proc) request(req *ssh.Request, status **wire.ExitStatus) {
	switch req.Type {
	case wire.ReqStarted:
		// JSON on a stack of its own (see serve).
		go func() {
			var s wire.Started
			if wire.Decode(req.Type, req.Payload, &s) == nil {
				p.mu.Lock()
				p.nodePID = s.PID
				p.mu.Unlock()
			}
		}()
	case wire.ReqExit:
		if s, err := wire.UnmarshalExitStatus(req.Payload); err == nil {
			*status = &s
		} else {
			p.m.log.Warn("bad exit status from node", "node", p.rank.node, "pid", p.pid, "err", err)
		}
	case wire.ReqWarning:
		// Here, not on a goroutine of its own: the client must have the
		// warning before the rank's final event.
		p.job.c.send(localapi.Event{Rank: p.rank.index, PID: p.pid, Warning: string(req.Payload)})
	}
	if req.WantReply {
		req.Reply(false, nil)
	}
}

// readGhost relays what the ghost has said since it last woke the relay,
// reading its socket until there is no more: the watch is edge-triggered.
// It reports whether the ghost has hung up.
//
// The socket is read with read(2), not through the net.Conn, which would
// park a goroutine in it; the watch's wake-up stands in for that.
func (p *proc) readGhost() (gone bool) {
	for {
		k, err := unix.Read(p.gfd, p.ev[p.evLen:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil || k == 0:
			return true
		}
		if p.evLen += k; p.evLen < len(p.ev) {
			continue
		}
		p.evLen = 0
		typ, arg, _ := ghost.ReadEvent(bytes.NewReader(p.ev[:]))
		if typ != ghost.EventSignal {
			continue
		}
		sig := syscall.Signal(arg)
		if sig == syscall.SIGWINCH && p.job.run.TTY != nil {
			p.send(outRequest{window: true})
			continue
		}
		p.signal(sig)
	}
}

// outRequest is what send sends the node: a signal, the terminal's size,
// the end of stdin (eof), or the end of the channel (closeAfter), after
// what came before it.
type outRequest struct {
	sig        syscall.Signal
	window     bool
	eof        ssh.Channel
	closeAfter ssh.Channel
}

// signal delivers sig to the remote process.
func (p *proc) signal(sig syscall.Signal) {
	p.send(outRequest{sig: sig})
}

// send queues r for the node. One goroutine at a time sends the queue, in
// order, and ends when it is empty: a signal costs a goroutine only while
// it is being encrypted and written, and a node whose connection is slow
// holds up no caller (the relay, the ghost watch, an API client).
func (p *proc) send(r outRequest) {
	p.mu.Lock()
	p.out = append(p.out, r)
	start := !p.sending
	p.sending = true
	p.mu.Unlock()
	if start {
		go p.sendQueued()
	}
}

func (p *proc) sendQueued() {
	for {
		p.mu.Lock()
		if len(p.out) == 0 {
			p.out, p.sending = nil, false
			p.mu.Unlock()
			return
		}
		r := p.out[0]
		p.out = p.out[1:]
		ch := p.ch
		p.mu.Unlock()
		switch {
		case r.closeAfter != nil:
			r.closeAfter.Close()
		case r.eof != nil:
			r.eof.CloseWrite()
		case ch == nil:
		case r.window:
			p.forwardWindow(ch)
		default:
			ch.SendRequest(wire.ReqSignal, false, wire.MarshalSignal(r.sig))
		}
	}
}

// forwardWindow reads the terminal size from the ghost's stdin (the user's
// terminal) and sends it to the node's pseudo-terminal.
func (p *proc) forwardWindow(ch ssh.Channel) {
	f := p.files[0]
	if f == nil {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Through the raw descriptor: f.Fd would make f blocking, and its
	// reads could no longer be stopped when the process ends.
	var ws *unix.Winsize
	rc.Control(func(fd uintptr) { ws, err = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) })
	if err != nil || ws == nil {
		return
	}
	ch.SendRequest(wire.ReqWindow, false, wire.Encode(wire.Window{Rows: ws.Row, Cols: ws.Col}))
}
