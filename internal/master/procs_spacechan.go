package master

import (
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// spaceChan is a node connection's wire.ChanSpace (protocol 4), which
// carries the relays of all its descendants: opened at the first, and
// again at the next one after it ended with its connection.
type spaceChan struct {
	mu   sync.Mutex // held while it opens
	conn ssh.Conn
	mux  *spacemux.Mux
}

// spaceRelay opens the relay of descendant p on its node's ChanSpace;
// ok false if the node speaks protocol 3 or older, which gets a
// ChanAdopt channel of its own.
func (m *Master) spaceRelay(p *proc, sc ssh.Conn) (ch ssh.Channel, reqs <-chan *ssh.Request, ok bool, err error) {
	n := p.first
	m.mu.Lock()
	proto := n.proto
	m.mu.Unlock()
	if proto < 4 {
		return nil, nil, false, nil
	}
	mux, err := m.spaceMux(n, sc)
	if err != nil {
		return nil, nil, true, err
	}
	r, err := mux.Open(p.pid)
	if err != nil {
		return nil, nil, true, err
	}
	return r, r.Requests(), true, nil
}

// spaceOpen says n's connection sc has its ChanSpace open: a relay on
// it opens at once. It does not wait: a ChanSpace being opened (s.mu
// held until the node answers) is not open yet.
func (m *Master) spaceOpen(n *node, sc ssh.Conn) bool {
	m.mu.Lock()
	proto := n.proto
	m.mu.Unlock()
	s := &n.space
	if !s.mu.TryLock() {
		return false
	}
	defer s.mu.Unlock()
	if proto < 4 || s.mux == nil || s.conn != sc {
		return false
	}
	select {
	case <-s.mux.Dead():
		return false
	default:
		return true
	}
}

// spaceMux is the ChanSpace of n's connection sc, opened if it has none.
func (m *Master) spaceMux(n *node, sc ssh.Conn) (*spacemux.Mux, error) {
	s := &n.space
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mux != nil && s.conn == sc {
		select {
		case <-s.mux.Dead():
		default:
			return s.mux, nil
		}
	}
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanSpace, nil)
	if err != nil {
		return nil, err
	}
	log := m.log.With("node", n.num)
	warn := func(msg string, args ...any) { m.warns.Warn(log, 0, msg, args...) }
	s.conn, s.mux = sc, spacemux.New(ch, reqs, true, warn, nil)
	return s.mux, nil
}
