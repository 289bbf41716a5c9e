package master

import (
	"bytes"
	"errors"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A live process has no goroutine of its own in the master unless its
// stdio carries something: the node's requests are waited on by the
// request watch (reqwatch.go), the ghost's socket by the ghost watch
// (ghostwatch.go), both of which call the process's handlers; what must
// wait (for the node's transport, for the client) is queued for the
// process's sender (send), a goroutine that lives only while there is
// something to send. 15,000 parked goroutines were 15,000 stacks of 4 kB.

// relayRun is the relay of one channel of the process: its first node's,
// or after a move (bproc_move from the node) the next node's.
type relayRun struct {
	p      *proc
	ch     ssh.Channel
	out    sync.WaitGroup // the output copies
	in     *stdinCopy
	status *wire.ExitStatus // the node's exit status; the request watch's, until the channel ends
}

// relay moves the process's stdio, signals and requests over ch until the
// node closes it. outs says which output streams the node sends on ch:
// only those get a copy. told says the ghost knows where the process is
// already (a descendant's first relay: register told it, and there is
// no output to count).
func (p *proc) relay(ch ssh.Channel, reqs <-chan *ssh.Request, outs outputStreams, told bool) {
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()
	r := &relayRun{p: p, ch: ch}
	p.rs.outs = outs
	r.in = p.pumpIn(ch)
	// The ghost learns where the process is, and how much of its output
	// it got, for a next master (procs_restart.go).
	notes := p.keeps()
	if !told {
		p.send(p.tellWhere)
	}
	viaGhost := p.ghostWrites(notes) // procs_ghostout.go
	if outs.stdout {
		w, c := p.outTo(1, notes), p.countOut(ch, 1, viaGhost)
		r.out.Go(func() { p.pumpOut(w, c) })
	}
	if outs.stderr {
		w, c := p.outTo(2, notes), p.countOut(ch, 2, viaGhost)
		r.out.Go(func() { p.pumpOut(w, c) })
	}
	p.m.reqs.watch(reqs, r)
}

func (r *relayRun) onReq(req *ssh.Request) { r.p.request(r, req) }

// onDone follows the channel's end: on the process's sender for a
// descendant that has its status (ended waits for nothing then: no
// output, no stdin, no resume, no move), which runs finish and end next
// on the same goroutine; else on a goroutine of its own.
func (r *relayRun) onDone() {
	p := r.p
	p.mu.Lock()
	moving := p.next != nil || p.home != nil
	p.mu.Unlock()
	if r.status != nil && p.rank.desc != nil && !moving {
		p.send(func() { p.ended(r) })
		return
	}
	go p.ended(r)
}

// ended follows the end of r's channel: once its output is all here, the
// process goes on on the node it moved to, or it has ended, and the ghost
// ends the same way.
func (p *proc) ended(r *relayRun) {
	p.m.startHeard(p) // a node that never said the PID
	r.out.Wait()
	r.in.stop()
	r.ch.Close()
	p.mu.Lock()
	moving, home := p.next != nil, p.home
	p.mu.Unlock()
	if home != nil {
		// Its output is all here; the copy on the node is gone, its
		// status (killed) is not the process's: moveHome goes on.
		close(home)
		return
	}
	if moving {
		<-r.in.done // a file that cannot be interrupted ends with the process
	}
	p.mu.Lock()
	gone, next := p.ghostGone, p.next
	p.next = nil
	p.mu.Unlock()
	if !gone && next == nil && r.status == nil {
		// The connection was lost: a node that keeps its processes may
		// come back with it (procs_resume.go).
		if p.awaitResume() {
			return
		}
		p.mu.Lock()
		gone = p.ghostGone
		p.mu.Unlock()
	}
	var s wire.ExitStatus
	var why error
	switch {
	case gone:
		// The ghost was killed: its remote process was killed with it.
		s.Signal = syscall.SIGKILL
	case next != nil && r.status == nil:
		// Moved to another node: the same relay goes on there, its
		// streams counted from their start there.
		p.rs.startOver()
		p.relay(next.ch, next.reqs, moved, false)
		return
	case r.status == nil:
		s.Signal, why = syscall.SIGKILL, errNodeDied
	default:
		s = *r.status
	}
	// After what is queued: a warning reaches the client before the end.
	p.send(func() {
		p.finish(s, true, why)
		p.end()
	})
}

// request handles one request of the node's, on the request watch's
// goroutine.
func (p *proc) request(r *relayRun, req *ssh.Request) {
	switch req.Type {
	case wire.ReqStarted:
		var s wire.Started
		if wire.Decode(req.Type, req.Payload, &s) == nil {
			p.mu.Lock()
			p.nodePID = s.PID
			p.mu.Unlock()
			p.send(p.tellWhere)
		}
		p.m.startHeard(p)
	case wire.ReqExit:
		if s, err := wire.UnmarshalExitStatus(req.Payload); err == nil {
			r.status = &s
			p.rs.mu.Lock()
			p.rs.exited = true
			p.rs.mu.Unlock()
		} else {
			p.m.log.Warn("bad exit status from node", "node", p.rank.node, "pid", p.pid, "err", err)
		}
	case wire.ReqStdinAck:
		var a wire.StdinAck
		if wire.Decode(req.Type, req.Payload, &a) == nil {
			p.rs.kept().ack(a.Offset)
			p.ghostInAck(a.Offset) // procs_stdin_ghost.go
		}
	case wire.ReqWarning:
		if p.rank.desc != nil {
			break
		}
		p.send(func() { p.job.c.send(localapi.Event{Rank: p.rank.index, PID: p.pid, Warning: string(req.Payload)}) })
	}
	if req.WantReply {
		p.send(func() { req.Reply(false, nil) })
	}
}

// watchGhost has the ghost watch call onGhost when the ghost speaks.
func (p *proc) watchGhost() error {
	rc, err := p.ghost.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(func(fd uintptr) { p.gfd = int(fd) }); err != nil {
		return err
	}
	p.watchID, err = p.m.ghosts.add(p.gfd, p.onGhost)
	if err == nil {
		p.watched = true
		if sc, ok := p.ghost.(*sockConn); ok {
			sc.watchedBy(p.m.ghosts, p.watchID)
		}
	}
	return err
}

// onGhost relays what the ghost has said, on the ghost watch's goroutine.
// The ghost's hang-up means it was killed (SIGKILL): the remote process is
// killed too, and its channel closed, which ends the relay.
func (p *proc) onGhost() {
	if sc, ok := p.ghost.(*sockConn); ok {
		sc.poke() // a write waiting for room
	}
	if p.hungUp || !p.readGhost() {
		return
	}
	p.hungUp = true
	p.mu.Lock()
	home := p.home != nil
	p.ghostGone = !home
	p.mu.Unlock()
	if home {
		return // the ghost is becoming the process (moveHome)
	}
	p.signal(syscall.SIGKILL)
	p.send(func() {
		p.mu.Lock()
		ch := p.ch
		p.mu.Unlock()
		if ch != nil {
			ch.Close()
		}
	})
	// A relay waiting for its node to come back gives up.
	select {
	case p.rs.nextChan() <- resumed{}:
	default:
	}
}

// readGhost relays what the ghost has said since it was last read dry (the
// watch is edge-triggered), and reports whether the ghost has hung up.
// The socket is read with recvmsg(2), not through the net.Conn, which would
// park a goroutine on it; an fd comes with one event only, EventForked
// (procs_space_pair.go), and any other is closed.
func (p *proc) readGhost() (gone bool) {
	oob := p.m.ghosts.oob[:] // the watch's: handlers run one at a time
	for {
		// MSG_DONTWAIT: a descendant's socket is not O_NONBLOCK (pairConn).
		k, oobn, _, _, err := unix.Recvmsg(p.gfd, p.ev[p.evLen:], oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil:
			return true
		}
		fd := p.ghostFD(oob[:oobn])
		if k == 0 {
			closeFD(fd)
			return true
		}
		if p.evLen += uint8(k); int(p.evLen) < len(p.ev) {
			p.strayFD(fd)
			continue
		}
		p.evLen = 0
		typ, arg, _ := ghost.ReadEvent(bytes.NewReader(p.ev[:]))
		if typ == ghost.EventForked {
			pid, drains := ghost.ParseForked(arg)
			if drains {
				p.ghostDrains() // procs_ghostconn.go
			}
			p.ghostForked(pid, fd, drains) // procs_space_pair.go
			continue
		}
		p.strayFD(fd)
		if typ == ghost.EventWrote {
			p.ghostWrote(arg) // procs_ghostout.go
			continue
		}
		if typ == ghost.EventChildStopped {
			p.childStopped(int(arg)) // procs_space_stop.go
			continue
		}
		if typ != ghost.EventSignal {
			continue
		}
		sig := syscall.Signal(arg)
		if sig == syscall.SIGCONT && p.quietCont() { // procs_space_stop.go
			continue
		}
		if sig == syscall.SIGWINCH && p.job.cmd.TTY != nil {
			p.send(p.forwardWindow)
			continue
		}
		p.signal(sig)
	}
}

// ghostFD is the fd that came with a read of p's ghost, -1 if none: there
// is room for one (pairFDRoom), and anything else in oob is closed.
func (p *proc) ghostFD(oob []byte) int {
	if len(oob) == 0 {
		return -1
	}
	fds, err := unixRights(oob)
	if err != nil || len(fds) != 1 {
		closeAll(fds)
		p.strayFD(-2)
		return -1
	}
	return fds[0]
}

// strayFD closes an fd p's ghost sent with no EventForked; -2 names a
// control message that was no single fd.
func (p *proc) strayFD(fd int) {
	if fd == -1 {
		return
	}
	closeFD(fd)
	p.m.warns.Warn(p.m.log, p.job.cred.UID, "ghost sent a descriptor with no EventForked: closed", "ghost", p.pid)
}

// deliver sends sig to the remote process now; the sender's (signal).
func (p *proc) deliver(sig syscall.Signal) {
	ch := p.channel()
	if ch == nil {
		// Its node is away, or has not started it yet: sent when it
		// is back (resume), or started (sendHeld).
		p.hold(sig)
		return
	}
	// A node that keeps its processes answers: a signal sent into a
	// connection that turns out lost is held, and sent again.
	keeps := p.keeps()
	if _, err := ch.SendRequest(wire.ReqSignal, keeps, wire.MarshalSignal(sig)); err != nil && keeps {
		p.hold(sig)
	}
}

func (p *proc) channel() ssh.Channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ch
}

// send queues f, which may block (on the node's transport, on the
// client). One goroutine at a time runs the queue, in order, and ends when
// it is empty, so that the handlers, which must not block, need not, and
// a process costs a goroutine only while something of it is on its way.
func (p *proc) send(f func()) {
	p.mu.Lock()
	p.queue = append(p.queue, f)
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
		if len(p.queue) == 0 {
			p.queue, p.sending = nil, false
			p.mu.Unlock()
			return
		}
		f := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		f()
	}
}

// forwardWindow reads the terminal size from the ghost's stdin (the user's
// terminal) and sends it to the node's pseudo-terminal.
func (p *proc) forwardWindow() {
	f, ch := p.files[0], p.channel()
	if f == nil || ch == nil {
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
