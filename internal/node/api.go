package node

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/bproc/bproc/internal/shared/acceptloop"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// apiSocket is where a process on the node finds the master's local API:
// the path libbproc and the tools use by default, inside the process's
// root.
const apiSocket = localapi.DefaultSocket

// serveAPI listens on path (apiSocket as the node's processes see it) and
// carries each connection to the master over a ChanAPI, saying who the
// connecting process is (SO_PEERCRED, on this node). It replaces the
// listener of an earlier call.
func (s *Slave) serveAPI(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	// Anyone on the node may ask; the master decides, per user.
	os.Chmod(path, 0o666)
	s.mu.Lock()
	old := s.api
	s.api = l
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go acceptloop.Serve(l, func(c net.Conn) { s.forwardAPI(c.(*net.UnixConn)) },
		func(err error) { s.log.Warn("accept on the node's API socket; trying again", "err", err) })
	return nil
}

// forwardAPI carries one connection to the master.
func (s *Slave) forwardAPI(c *net.UnixConn) {
	defer c.Close()
	cred, err := localapi.PeerCred(c)
	if err != nil {
		return
	}
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return // the process sees the connection close: no master now
	}
	ch, reqs, err := sshconn.OpenChannel(conn, wire.ChanAPI, wire.Encode(wire.APIRequest{
		PID: cred.PID, UID: cred.UID, GID: cred.GID, Groups: cred.Groups,
	}))
	if err != nil {
		return
	}
	go func() {
		for r := range reqs {
			r.Reply(false, nil)
		}
	}()
	defer ch.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, ch)
		c.CloseWrite()
		close(done)
	}()
	io.Copy(ch, c)
	ch.CloseWrite()
	<-done
}
