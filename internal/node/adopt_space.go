package node

import (
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/wire"
)

// acceptSpace takes the connection's wire.ChanSpace (protocol 4), on
// which the master opens the relays of the node's descendants, each
// served as a ChanAdopt channel is (adoptRelay). One per connection at
// a time: a second while the first is open is refused; one on a new
// connection replaces the last one's, which ends with its connection.
func (s *Slave) acceptSpace(nc ssh.NewChannel, conn ssh.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.spaceMux; old != nil && s.spaceConn == conn {
		select {
		case <-old.Dead():
		default:
			nc.Reject(wire.RejectOther, "space channel: one per connection, and this one has it")
			return
		}
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	warn := func(msg string, args ...any) { s.log.Warn(msg, args...) }
	s.spaceConn = conn
	s.spaceMux = spacemux.New(ch, reqs, false, warn, func(pid int, r *spacemux.Relay) {
		s.adoptRelay(pid, func() (ssh.Channel, <-chan *ssh.Request, error) { return r, r.Requests(), nil })
	})
}
