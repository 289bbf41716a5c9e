package slave

import (
	"errors"
	"fmt"

	"github.com/pkg/sftp"

	"github.com/bproc/bproc/wire"
)

var errNoMaster = errors.New("not connected to the master")

// Files opens an sftp session of the master's files as uid: read-only,
// and only while uid has a process on this node (the master checks). It is
// what the node's view of the master's files fetches through.
func (s *Slave) Files(uid uint32) (*sftp.Client, error) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return nil, errNoMaster
	}
	ch, reqs, err := conn.OpenChannel(wire.ChanFiles, wire.Encode(wire.FilesRequest{UID: uid}))
	if err != nil {
		return nil, fmt.Errorf("master's files as uid %d: %w", uid, err)
	}
	go func() {
		for r := range reqs {
			r.Reply(false, nil)
		}
	}()
	c, err := sftp.NewClientPipe(ch, ch)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("master's files as uid %d: %w", uid, err)
	}
	return c, nil
}
