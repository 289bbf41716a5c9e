// Package spacemux carries the relays of a node's descendants (what its
// remote processes forked) on one SSH channel per connection
// (wire.ChanSpace), each relay an ssh.Channel of its own to the code
// above it, so that the master's process relay and the node's link serve
// a descendant as they serve a process on a channel of its own.
//
// A descendant's relay has no stdio: on it the master sends signals, the
// node sends the process's end, and each side closes it. So a Relay
// reads EOF, drops what is written to it and every request but those
// (wire.ReqSignal from the master, wire.ReqExit from the node).
package spacemux

import (
	"io"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// maxQueued bounds the requests waiting for one relay's reader on the
// node: the master waits for each signal's answer, so one waits at a
// time; past the bound (a master gone wrong) a signal is dropped and
// logged rather than held.
const maxQueued = 256

// Mux is one side of a ChanSpace.
type Mux struct {
	ch     ssh.Channel
	master bool // this side is the master's
	// warn logs a record that was refused, one line naming what was
	// wrong; the record is dropped and nothing else changes.
	warn func(msg string, args ...any)
	// adopt (the node's) serves a new relay; called on a goroutine of
	// its own.
	adopt func(pid int, r *Relay)

	mu       sync.Mutex // guards the fields below
	relays   map[uint32]*Relay
	nextID   uint32 // the master's next relay ID
	out      []byte // records waiting for the writer
	writing  bool   // the writer has records in hand
	dead     bool   // the channel has ended: no relay goes on here
	deadChan chan struct{}
	// wake (cap 1) tells the writer that records wait. The writer is one
	// goroutine for the channel's life, not one per batch: each batch's
	// new goroutine grew its stack through the SSH cipher again (a
	// twentieth of the master's CPU per fork).
	wake chan struct{}
}

// New makes the master's (adopt nil) or the node's side of ch, and
// starts reading it. warn logs refused records.
func New(ch ssh.Channel, reqs <-chan *ssh.Request, master bool, warn func(msg string, args ...any), adopt func(pid int, r *Relay)) *Mux {
	m := &Mux{ch: ch, master: master, warn: warn, adopt: adopt, relays: make(map[uint32]*Relay), nextID: 1, deadChan: make(chan struct{}), wake: make(chan struct{}, 1)}
	go ssh.DiscardRequests(reqs)
	go m.read()
	go m.write()
	return m
}

// Dead is closed once the channel has ended.
func (m *Mux) Dead() <-chan struct{} { return m.deadChan }

// Open starts the relay of the descendant whose ghost is pid (the
// master's): its first record is on its way when Open returns.
func (m *Mux) Open(pid int) (*Relay, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead {
		return nil, io.EOF
	}
	id := m.nextID
	for m.relays[id] != nil || id == 0 {
		id++
	}
	m.nextID = id + 1
	r := m.newRelayLocked(id)
	m.sendLocked(wire.SpaceRecord{Kind: wire.SpaceAdopt, ID: id, Arg: pid})
	return r, nil
}

func (m *Mux) newRelayLocked(id uint32) *Relay {
	r := &Relay{m: m, id: id, reqs: make(chan *ssh.Request)}
	m.relays[id] = r
	return r
}

// Len is the number of relays on the channel.
func (m *Mux) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.relays)
}

// sendLocked queues a record for the writer, which writes what waits in
// one go: records that meet there share an SSH message.
func (m *Mux) sendLocked(rec wire.SpaceRecord) {
	if m.dead {
		return
	}
	m.out = rec.Marshal(m.out)
	select {
	case m.wake <- struct{}{}:
	default: // a wake-up waits already
	}
}

// write is the channel's writer, until it ends.
func (m *Mux) write() {
	for {
		select {
		case <-m.wake:
		case <-m.deadChan:
			return
		}
		for {
			m.mu.Lock()
			b := m.out
			m.out = nil
			m.writing = len(b) > 0 && !m.dead
			if !m.writing {
				m.mu.Unlock()
				break
			}
			m.mu.Unlock()
			if _, err := m.ch.Write(b); err != nil {
				m.ch.Close() // the reader ends, and with it every relay
				m.mu.Lock()
				m.writing = false
				m.mu.Unlock()
				return
			}
		}
	}
}

// read takes the other side's records until the channel ends, then ends
// every relay as a lost connection ends its channels.
func (m *Mux) read() {
	var b [wire.SpaceRecordSize]byte
	for {
		if _, err := io.ReadFull(m.ch, b[:]); err != nil {
			break
		}
		rec, err := wire.UnmarshalSpaceRecord(b[:], !m.master)
		if err != nil {
			m.warn("space channel: record refused", "err", err)
			continue
		}
		m.take(rec)
	}
	m.ch.Close()
	m.mu.Lock()
	m.dead = true
	m.out = nil
	relays := m.relays
	m.relays = map[uint32]*Relay{}
	for _, r := range relays {
		r.endLocked()
	}
	m.mu.Unlock()
	close(m.deadChan)
}

// take acts on one well-formed record.
func (m *Mux) take(rec wire.SpaceRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.relays[rec.ID]
	if rec.Kind == wire.SpaceAdopt {
		if r != nil {
			m.warn("space channel: record refused", "err", "adopt of relay "+strconv.FormatUint(uint64(rec.ID), 10)+", which is open")
			return
		}
		r = m.newRelayLocked(rec.ID)
		go m.adopt(rec.Arg, r)
		return
	}
	if r == nil {
		// Never in order: each side forgets a relay only once it has
		// the other's close, after which the other sends nothing.
		m.warn("space channel: record refused", "err", "record of unknown relay "+strconv.FormatUint(uint64(rec.ID), 10))
		return
	}
	switch rec.Kind {
	case wire.SpaceSignal:
		if len(r.queue) >= maxQueued {
			m.warn("space channel: signal dropped", "relay", rec.ID, "err", "too many waiting")
			if rec.Reply {
				m.sendLocked(wire.SpaceRecord{Kind: wire.SpaceSignaled, ID: r.id})
			}
			return
		}
		r.queueLocked(queued{req: &ssh.Request{Type: wire.ReqSignal, Payload: wire.MarshalSignal(rec.Signal())}, answer: rec.Reply})
	case wire.SpaceSignaled:
		if len(r.waiting) == 0 {
			m.warn("space channel: record refused", "err", "answer to no signal on relay "+strconv.FormatUint(uint64(rec.ID), 10))
			return
		}
		w := r.waiting[0]
		r.waiting[0] = nil
		r.waiting = r.waiting[1:]
		w <- nil
	case wire.SpaceExit:
		r.queueLocked(queued{req: &ssh.Request{Type: wire.ReqExit, Payload: rec.Status.Marshal()}})
		r.closedLocked()
	case wire.SpaceClose:
		r.closedLocked()
	}
}

// busy says whether records wait to be written (tests).
func (m *Mux) busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writing || len(m.out) > 0
}
