package spacemux

import (
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Relay is one descendant's relay on a ChanSpace: an ssh.Channel without
// stdio to the code that serves it. Its requests (Requests) come on a Go
// channel, as a channel's do, closed once the other side has closed the
// relay (or the ChanSpace has ended).
type Relay struct {
	m    *Mux
	id   uint32
	reqs chan *ssh.Request // unbuffered: what waits is in queue

	// Under m.mu.
	sentClose bool         // this side's close (the node's exit) is sent
	gotClose  bool         // the other side's close is here
	waiting   []chan error // signals waiting for their answer (the master's)
	queue     []queued     // for reqs, in order
	pumping   bool         // pump runs
}

// queued is a request on its way to the relay's reader, or its end.
type queued struct {
	req    *ssh.Request // nil: the end, reqs is closed
	answer bool         // a signal whose delivery the master waits for
}

// Requests are the relay's requests from the other side.
func (r *Relay) Requests() <-chan *ssh.Request { return r.reqs }

// queueLocked hands q to the reader through pump, a goroutine that lives
// while something waits, so that the mux's reader never waits for a
// relay's.
func (r *Relay) queueLocked(q queued) {
	r.queue = append(r.queue, q)
	if !r.pumping {
		r.pumping = true
		go r.pump()
	}
}

func (r *Relay) pump() {
	m := r.m
	for {
		m.mu.Lock()
		if len(r.queue) == 0 {
			r.queue, r.pumping = nil, false
			m.mu.Unlock()
			return
		}
		q := r.queue[0]
		r.queue[0] = queued{}
		r.queue = r.queue[1:]
		m.mu.Unlock()
		if q.req == nil {
			close(r.reqs)
			// The other side's close is answered once everything before
			// it has been handed over (a signal's answer goes first).
			m.mu.Lock()
			if !r.sentClose {
				r.sentClose = true
				m.sendLocked(wire.SpaceRecord{Kind: wire.SpaceClose, ID: r.id})
			}
			m.mu.Unlock()
			continue
		}
		r.reqs <- q.req
		if q.answer {
			// Answered once its reader has it, which delivers it
			// before it reads on; not after this side's close (an exit
			// that crossed the signal: the master's wait ends there).
			m.mu.Lock()
			if !r.sentClose {
				m.sendLocked(wire.SpaceRecord{Kind: wire.SpaceSignaled, ID: r.id})
			}
			m.mu.Unlock()
		}
	}
}

// closedLocked follows the other side's close: the relay is forgotten,
// its reader gets what waits and then the end, and this side's close
// answers if it has not gone yet.
func (r *Relay) closedLocked() {
	delete(r.m.relays, r.id)
	r.endLocked()
}

// endLocked ends the relay's requests after those waiting, and the
// signals waiting for an answer.
func (r *Relay) endLocked() {
	if r.gotClose {
		return
	}
	r.gotClose = true
	for _, w := range r.waiting {
		w <- io.EOF
	}
	r.waiting = nil
	r.queueLocked(queued{})
}

// Lost says whether the relay's channel has ended (the connection lost).
// Asked once Requests is closed, false means the other side closed the
// relay: the channel ends relays only after it is marked dead.
func (r *Relay) Lost() bool {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}

// Read: a descendant's relay carries no stdio.
func (r *Relay) Read([]byte) (int, error) { return 0, io.EOF }

// Write drops what it is given: a descendant's relay carries no stdio.
func (r *Relay) Write(b []byte) (int, error) { return len(b), nil }

// CloseWrite: there is no stdin to end.
func (r *Relay) CloseWrite() error { return nil }

// Stderr: none.
func (r *Relay) Stderr() io.ReadWriter { return noStream{} }

type noStream struct{}

func (noStream) Read([]byte) (int, error)    { return 0, io.EOF }
func (noStream) Write(b []byte) (int, error) { return len(b), nil }

// Close sends this side's close, once.
func (r *Relay) Close() error {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !r.sentClose {
		r.sentClose = true
		m.sendLocked(wire.SpaceRecord{Kind: wire.SpaceClose, ID: r.id})
	}
	return nil
}

// SendRequest sends what a descendant's relay carries: a signal from the
// master (answered once delivered when wantReply), the exit status from
// the node (its close). Other requests (stdin's end and acknowledgments,
// a window size) have no stream to be about, and are dropped.
func (r *Relay) SendRequest(name string, wantReply bool, payload []byte) (bool, error) {
	m := r.m
	var rec wire.SpaceRecord
	switch {
	case m.master && name == wire.ReqSignal:
		sig, err := wire.UnmarshalSignal(payload)
		if err != nil {
			return false, err
		}
		rec = wire.SpaceRecord{Kind: wire.SpaceSignal, ID: r.id, Arg: int(sig), Reply: wantReply}
	case !m.master && name == wire.ReqExit:
		s, err := wire.UnmarshalExitStatus(payload)
		if err != nil {
			return false, err
		}
		rec = wire.SpaceRecord{Kind: wire.SpaceExit, ID: r.id, Status: s}
	default:
		return false, nil
	}
	m.mu.Lock()
	if r.sentClose || r.gotClose && m.master || m.dead {
		m.mu.Unlock()
		return false, io.EOF
	}
	var w chan error
	if rec.Kind == wire.SpaceExit {
		r.sentClose = true
	} else if wantReply {
		w = make(chan error, 1)
		r.waiting = append(r.waiting, w)
	}
	m.sendLocked(rec)
	m.mu.Unlock()
	if w == nil {
		return false, nil
	}
	err := <-w
	return err == nil, err
}
