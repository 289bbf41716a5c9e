package node

import (
	"errors"

	"github.com/pkg/sftp"
)

var errNoMaster = errors.New("not connected to the master")

// Files opens an sftp session of the master's files as uid on the node's
// connection (see OpenFiles): what programs are pushed through.
func (s *Slave) Files(uid uint32) (*sftp.Client, error) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return nil, errNoMaster
	}
	return OpenFiles(conn, uid)
}
