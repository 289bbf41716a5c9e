package master

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// openDump asks a node, on conn, for the image of the caller's process
// (wire.ChanDump): the channel the image comes on, after its size. The
// caller closes the channel; closed without wire.ReqMoved first, the
// process goes on on its node.
func (m *Master) openDump(conn ssh.Conn, c *client) (ssh.Channel, int64, error) {
	dch, dreqs, err := sshconn.OpenChannel(conn, wire.ChanDump, wire.Encode(wire.DumpRequest{PID: c.cred.PID, UID: c.cred.UID}))
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, 0, fmt.Errorf("%s: %s", errMoveFail, oce.Message)
		}
		return nil, 0, errNodeDied
	}
	m.routines.Go(func() { ssh.DiscardRequests(dreqs) })
	var sz [8]byte
	if _, err := io.ReadFull(dch, sz[:]); err != nil {
		dch.Close()
		return nil, 0, errNodeDied
	}
	return dch, int64(binary.BigEndian.Uint64(sz[:])), nil
}
