package node

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ackbuf"
	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/streamcopy"
	"github.com/bproc/bproc/internal/shared/wire"
)

// maxWrite bounds one write to the channel, so that what was sent is
// counted as it goes.
const maxWrite = 128 << 10

// lostWait is how long the end of a channel waits to learn whether its
// connection was lost (the process is kept) or the master closed it (the
// ghost is gone: so is the process). A lost connection's channels end
// just before the connection does, so the answer comes at once; only a
// closed channel waits, and the master sends a SIGKILL before it closes
// one whose process runs.
const lostWait = time.Second

// link is one remote process's relay to the master, which outlives the
// channel it started on when the master speaks protocol 2: a lost
// connection detaches it, the process goes on for the grace time, and a
// resume (wire.ChanResume) attaches a new channel, on which the output
// goes on from what the master says it has.
type link struct {
	s     *Slave
	ghost int    // the ghost's PID: what a resume names
	pid   int    // the PID on the node
	uid   uint32 // its user (NodeHello.KeptUIDs)
	st    *stdio
	// keep: the process outlives a lost connection (protocol 2 and a
	// grace time); without it the relay is protocol 1's.
	keep bool
	// sig signals a process that is not bpslave's child, a descendant
	// (adopt.go), through its pidfd; nil: the reaper signals pid.
	sig func(syscall.Signal)

	mu      sync.Mutex
	cond    sync.Cond
	ch      ssh.Channel     // nil while detached
	lost    <-chan struct{} // closed when ch's connection has ended
	gen     int             // counts the channels
	lostAt  time.Time       // when it was last detached
	out     [2]outBuf       // stdout, stderr
	eofGen  int             // the channel on which the master said stdin ended
	reqsGen int             // the last channel whose requests have ended
	exitGen int             // the channel the exit status went on
	exited  bool            // the process has ended (its PID is not ours)
	over    bool            // the relay is done: the master has the status, or the process was given up
	in      inCount         // stdin written into the process (stdinack.go)
}

// outBuf is one output stream's bytes from the master's last
// acknowledgment on, at most ackbuf.Bound: while the master is away its
// process's output waits here, then in the pipe, and then the process
// blocks in write(2). Nothing is dropped.
type outBuf struct {
	buf    ackbuf.Buf
	sent   int64 // written on the current channel
	eof    bool  // the pipe has ended
	failed int   // the channel on which a write failed
	full   bool  // the pipe's copy waits for room
}

func (o *outBuf) end() int64 { return o.buf.End() }

func (l *link) init() {
	l.cond.L = &l.mu
}

// attach makes ch the process's channel, the output going on from off.
func (l *link) attach(ch ssh.Channel, reqs <-chan *ssh.Request, lost <-chan struct{}, off [2]int64) {
	l.mu.Lock()
	l.gen++
	gen := l.gen
	l.ch, l.lost = ch, lost
	for i := range l.out {
		o := &l.out[i]
		at := off[i]
		if at < o.buf.Base() || at > o.end() {
			// Only a master that lost what it acknowledged, or one that
			// claims what was never sent: the stream goes on from what
			// the node still has.
			l.s.log.Warn("resume: master's offset outside what the node holds", "pid", l.ghost, "stream", i+1, "offset", at, "held_from", o.buf.Base(), "held_to", o.end())
			at = max(o.buf.Base(), min(at, o.end()))
		}
		o.sent, o.failed = at, 0
	}
	l.cond.Broadcast()
	l.mu.Unlock()
	acks := l.keep && l.s.keeper.acksStdin()
	go l.serve(gen, ch, reqs, lost)
	if _, relay := ch.(*spacemux.Relay); relay && l.st.stdin == nil {
		// A descendant's relay on the ChanSpace: it has no stdin to
		// copy, reads EOF and drops the acknowledgment, so pumpIn
		// would be a goroutine and a JSON encoding per fork for
		// nothing.
		return
	}
	go l.pumpIn(gen, ch, acks)
}

// serve handles the master's requests on one channel of the process.
func (l *link) serve(gen int, ch ssh.Channel, reqs <-chan *ssh.Request, lost <-chan struct{}) {
	for r := range reqs {
		switch r.Type {
		case wire.ReqSignal:
			if sig, err := wire.UnmarshalSignal(r.Payload); err == nil {
				l.signal(sig)
			}
		case wire.ReqWindow:
			var w wire.Window
			if l.st.pty != nil && wire.Decode(r.Type, r.Payload, &w) == nil {
				unix.IoctlSetWinsize(int(l.st.pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: w.Rows, Col: w.Cols})
			}
		case wire.ReqAck:
			var a wire.Ack
			if wire.Decode(r.Type, r.Payload, &a) == nil {
				l.ack(a)
			}
		case wire.ReqStdinEOF:
			l.mu.Lock()
			if l.gen == gen {
				l.eofGen = gen
				l.cond.Broadcast()
			}
			l.mu.Unlock()
		}
		if r.WantReply {
			r.Reply(r.Type == wire.ReqSignal, nil) // a signal is answered once delivered
		}
	}
	l.channelEnded(gen, ch, lost)
}

// channelEnded follows the end of a channel's requests: a lost connection
// detaches the process, a channel the master closed ends the relay (and
// the process, if the status did not go on it: the ghost is gone).
func (l *link) channelEnded(gen int, ch ssh.Channel, lost <-chan struct{}) {
	l.mu.Lock()
	l.reqsGen = max(l.reqsGen, gen)
	l.cond.Broadcast()
	l.mu.Unlock()
	isLost := false
	if r, relay := ch.(*spacemux.Relay); l.keep && (!relay || r.Lost()) {
		// A descendant's relay knows at once that the master closed
		// it: no timer and no goroutine waiting lostWait per fork.
		select {
		case <-lost:
			isLost = true
		case <-time.After(lostWait):
		}
	}
	l.mu.Lock()
	if l.gen != gen || l.over {
		l.mu.Unlock()
		return
	}
	if isLost {
		l.ch, l.lostAt = nil, time.Now()
		l.cond.Broadcast()
		l.mu.Unlock()
		return
	}
	kill := l.exitGen != gen && !l.exited
	l.over = true
	l.cond.Broadcast()
	l.mu.Unlock()
	if kill {
		l.kill(syscall.SIGKILL)
	}
}

// isOver says whether the relay is done.
func (l *link) isOver() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.over
}

// kill signals the process, whoever's child it is.
func (l *link) kill(sig syscall.Signal) {
	if l.sig != nil {
		l.sig(sig)
		return
	}
	l.s.reaper.Signal(l.pid, sig)
}

// giveUp ends a detached process that no master took back.
func (l *link) giveUp() {
	l.mu.Lock()
	if l.over {
		l.mu.Unlock()
		return
	}
	l.over = true
	kill := !l.exited
	l.cond.Broadcast()
	l.mu.Unlock()
	if kill {
		l.kill(syscall.SIGKILL)
	}
}

// signal relays a ghost's signal, timed so that it fails no notified
// call (space_sighold.go); it returns once the signal is sent.
func (l *link) signal(sig syscall.Signal) {
	l.mu.Lock()
	gone := l.exited
	l.mu.Unlock()
	if gone {
		return
	}
	if sp := l.s.space; sp != nil && sp.on {
		sp.sigs.send(l.pid, sig, func() { l.kill(sig) })
		return
	}
	l.kill(sig)
}

// ack frees what the master has written out.
func (l *link) ack(a wire.Ack) {
	if a.Stream != 1 && a.Stream != 2 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	o := &l.out[a.Stream-1]
	// A write in progress may be acknowledged in part before it returns
	// (its sent is counted then): what the buffer holds is the bound.
	if a.Offset <= o.buf.Base() || a.Offset > o.end() {
		return
	}
	o.buf.DropTo(a.Offset)
	l.cond.Broadcast()
}

// pumpIn copies one channel to the process's stdin. The master's EOF
// closes it (on a terminal, it types ^D instead, as ssh -t does); the EOF
// of a lost connection does not: the next channel goes on.
func (l *link) pumpIn(gen int, ch ssh.Channel, acks bool) {
	st := l.st
	if st.stdin == nil {
		if acks {
			l.ackStdin(ch, 0) // the master waits for where to go on from
		}
		streamcopy.Copy(io.Discard, ch)
		return
	}
	l.copyIn(ch, acks)
	if l.keep {
		l.mu.Lock()
		for l.eofGen != gen && !l.over && l.gen == gen && (l.reqsGen < gen || l.ch != nil) {
			l.cond.Wait()
		}
		eof := l.eofGen == gen || l.over
		l.mu.Unlock()
		if !eof {
			return
		}
	}
	if st.pty == nil {
		st.stdin.Close()
	} else {
		st.stdin.Write([]byte{4})
	}
}

var errOver = errors.New("relay over")

// appender is the pipe's copy into a stream's buffer: it waits for room.
type appender struct {
	l *link
	i int
}

func (a appender) Write(p []byte) (int, error) {
	l := a.l
	o := &l.out[a.i]
	l.mu.Lock()
	defer l.mu.Unlock()
	for o.buf.Len() >= ackbuf.Bound && !l.over {
		o.full = true
		l.cond.Wait()
	}
	o.full = false
	if l.over {
		return 0, errOver
	}
	o.buf.Append(p)
	l.cond.Broadcast()
	return len(p), nil
}

// drain writes a stream's buffer to whichever channel the process has,
// until the relay is over.
func (l *link) drain(i int) {
	o := &l.out[i]
	for {
		l.mu.Lock()
		for !l.over && (l.ch == nil || o.failed == l.gen || o.sent >= o.end()) {
			l.cond.Wait()
		}
		if l.over {
			l.mu.Unlock()
			return
		}
		ch, gen := l.ch, l.gen
		// Written unlocked: an ack moves the front, an append writes past
		// the end, neither touches these bytes (ackbuf.Buf.View).
		data := o.buf.View(o.sent, maxWrite)
		l.mu.Unlock()
		var w io.Writer = ch
		if i == 1 {
			w = ch.Stderr()
		}
		n, err := w.Write(data)
		l.mu.Lock()
		o.buf.Release()
		if l.gen == gen {
			o.sent += int64(n)
			if err != nil {
				o.failed = gen
			}
			if !l.keep { // protocol 1: no acks, nothing sent again
				if o.sent > o.buf.Base() {
					o.buf.DropTo(o.sent)
				}
			}
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// outFile is the pipe of output stream i, nil if it has none.
func (l *link) outFile(i int) *os.File {
	if i == 1 {
		return l.st.stderr
	}
	return l.st.stdout
}

// fill copies a pipe into its buffer until the pipe ends.
func (l *link) fill(i int) {
	if f := l.outFile(i); f != nil {
		streamcopy.Copy(appender{l, i}, f)
	}
	l.mu.Lock()
	l.out[i].eof = true
	l.cond.Broadcast()
	l.mu.Unlock()
}

// allSentLocked: every byte of output is on the current channel.
func (l *link) allSentLocked() bool {
	for i := range l.out {
		if o := &l.out[i]; !o.eof || o.sent < o.end() {
			return false
		}
	}
	return true
}

func (l *link) fullLocked() bool { return l.out[0].full || l.out[1].full }

// run relays the process until it has ended and the master has its
// status (or it was given up), and returns once the process's output has
// gone and the status was sent once: a later resume sends it again from a
// goroutine of its own.
func (l *link) run(ch ssh.Channel, reqs <-chan *ssh.Request, lost <-chan struct{}, done <-chan unix.WaitStatus) {
	l.init()
	filled := make(chan struct{})
	var fills sync.WaitGroup
	streams := 0
	for i := range l.out {
		if l.outFile(i) == nil {
			// None (a descendant's relay, adopt.go): no goroutines
			// parked for the process's life on a stream without bytes.
			l.mu.Lock()
			l.out[i].eof = true
			l.mu.Unlock()
			continue
		}
		streams++
		fills.Go(func() { l.fill(i) })
		go l.drain(i)
	}
	if streams == 0 {
		close(filled) // nor one to wait for none
	} else {
		go func() { fills.Wait(); close(filled) }()
	}
	l.attach(ch, reqs, lost, [2]int64{})
	ws := <-done
	l.mu.Lock()
	l.exited = true
	over := l.over
	l.mu.Unlock()
	if over { // the master closed the channel: the ghost is gone
		l.s.keeper.remove(l)
		return
	}
	// A background child that keeps the output open must not keep the
	// ghost alive forever: the pipes close drainGrace after the exit,
	// unless a stream waits for the master's room (nothing is dropped).
	for waiting := true; waiting; {
		select {
		case <-filled:
			waiting = false
		case <-time.After(drainGrace):
			l.mu.Lock()
			full := l.fullLocked()
			l.mu.Unlock()
			if !full {
				l.st.closeOurEnds()
				<-filled
				waiting = false
			}
		}
	}
	status := wire.FromWait(ws).Marshal()
	if !l.sendExit(status) {
		l.s.keeper.remove(l)
		return
	}
	go func() {
		for l.sendExit(status) {
		}
		l.s.keeper.remove(l)
	}()
}

// sendExit sends the exit status once all output is on a channel that has
// not had it, and reports whether the relay goes on (a resume may need it
// again) or is over.
func (l *link) sendExit(status []byte) bool {
	l.mu.Lock()
	for !l.over && (l.ch == nil || l.exitGen == l.gen || !l.allSentLocked()) {
		l.cond.Wait()
	}
	if l.over {
		l.mu.Unlock()
		return false
	}
	ch := l.ch
	l.exitGen = l.gen
	l.mu.Unlock()
	ch.SendRequest(wire.ReqExit, false, status)
	ch.CloseWrite()
	// The master's answer to the close says it has read the status: the
	// channel's requests then end without a lost connection, and the
	// relay is over (channelEnded); a lost one sends it again on the
	// next channel.
	ch.Close()
	if !l.keep {
		l.mu.Lock()
		l.over = true
		l.cond.Broadcast()
		l.mu.Unlock()
		return false
	}
	return true
}
