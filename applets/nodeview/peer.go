package nodeview

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/node/nodeview"
	"github.com/bproc/bproc/internal/shared/acceptloop"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// peerServer serves this node's copies of the master's files to other
// nodes, over SSH. Nodes share no key: this node shows its own key (made
// at its boot, pinned by the master) as host key, which the master hands
// to the fetching node with the source; the client signs with its own
// key, and each copy asked for comes with a ticket the master signed for
// that key. A client with any other key gets nothing.
type peerServer struct {
	l         net.Listener
	cfg       *ssh.ServerConfig
	v         *nodeview.View
	masterKey ssh.PublicKey
	log       *slog.Logger
}

// peerKeyExt carries the key a peer client authenticated with, from the
// handshake to the tickets it shows.
const peerKeyExt = "key"

func startPeerServer(host string, nodeKey ssh.Signer, masterKey ssh.PublicKey, v *nodeview.View, log *slog.Logger) (*peerServer, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("nodeview: listen for other nodes: %w", err)
	}
	s := &peerServer{l: l, cfg: peerServerConfig(nodeKey), v: v, masterKey: masterKey, log: log}
	go s.serve()
	return s, nil
}

// peerServerConfig takes any key whose signature holds: what it may have
// is decided per copy by the ticket, which names the key.
func peerServerConfig(nodeKey ssh.Signer) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != wire.PeerUser {
				return nil, fmt.Errorf("user %.40q: not a node of this cluster", c.User())
			}
			return &ssh.Permissions{Extensions: map[string]string{peerKeyExt: string(k.Marshal())}}, nil
		},
		ServerVersion: "SSH-2.0-bproc-peer",
	}
	cfg.AddHostKey(nodeKey)
	return cfg
}

func (s *peerServer) addr() string { return s.l.Addr().String() }

func (s *peerServer) close() { s.l.Close() }

func (s *peerServer) serve() {
	acceptloop.Serve(s.l, s.serveConn, func(err error) { s.log.Warn("accept a node's connection; trying again", "err", err) })
}

func (s *peerServer) serveConn(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		s.log.Warn("another node refused", "from", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != wire.ChanPeerCopy {
			nc.Reject(ssh.UnknownChannelType, "a node serves only copies")
			continue
		}
		go s.serveCopy(nc, []byte(sc.Permissions.Extensions[peerKeyExt]))
	}
}

// serveCopy serves the copy a valid ticket of the master's names, to the
// node it was signed for (client: the key that node authenticated with).
func (s *peerServer) serveCopy(nc ssh.NewChannel, client []byte) {
	t, err := s.ticket(nc.ExtraData(), client)
	if err != nil {
		nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	if _, err := s.v.ServeCopy(t.Version, ch); err != nil {
		s.log.Warn("serving a copy to another node", "path", t.Version.Path, "err", err)
	}
}

// ticket checks the master's signature, the expiry of a ticket, and that
// it was signed for client, the key the connection authenticated with.
func (s *peerServer) ticket(payload []byte, client []byte) (wire.Ticket, error) {
	var src wire.Source
	if err := wire.Decode(wire.ChanPeerCopy, payload, &src); err != nil {
		return wire.Ticket{}, err
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(src.Sig, &sig); err != nil {
		return wire.Ticket{}, fmt.Errorf("ticket signature: %w", err)
	}
	if err := s.masterKey.Verify(src.Ticket, &sig); err != nil {
		return wire.Ticket{}, fmt.Errorf("ticket not signed by the master: %w", err)
	}
	var t wire.Ticket
	if err := wire.Decode("ticket", src.Ticket, &t); err != nil {
		return wire.Ticket{}, err
	}
	if !t.Valid(time.Now()) {
		return wire.Ticket{}, fmt.Errorf("ticket expired")
	}
	if len(t.Key) == 0 || !bytes.Equal(t.Key, client) {
		return wire.Ticket{}, fmt.Errorf("ticket is for node %d's key, not the key this connection shows", t.Node)
	}
	return t, nil
}

// peerClient is this node's side: it asks the master where to fetch a
// version from and fetches it there (nodeview.Peers).
type peerClient struct {
	mc    *masterConn
	conns *peerConns
}

func (p *peerClient) Fetch(uid uint32, v wire.Version, w io.Writer) (bool, error) {
	conn, err := p.mc.get()
	if err != nil {
		return false, err
	}
	ok, reply, err := conn.SendRequest(wire.ReqSource, true, wire.Encode(wire.SourceRequest{UID: uid, Version: v}))
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("master: %s", reply)
	}
	var src wire.Source
	if err := wire.Decode(wire.ReqSource, reply, &src); err != nil {
		return false, err
	}
	if src.Addr == "" {
		return false, nil
	}
	hostKey, err := ssh.ParsePublicKey(src.HostKey)
	if err != nil {
		return false, nil // no key to check the node by: the master it is
	}
	client, kept, err := p.conns.get(src.Addr, hostKey)
	if err != nil {
		return false, nil // nothing written: the master it is
	}
	if !kept {
		defer client.Close()
	}
	ch, reqs, err := sshconn.OpenChannel(client, wire.ChanPeerCopy, wire.Encode(wire.Source{Ticket: src.Ticket, Sig: src.Sig}))
	if err != nil {
		var oce *ssh.OpenChannelError
		if kept && !errors.As(err, &oce) {
			p.conns.drop(client) // the connection broke: the next copy dials
		}
		return false, nil
	}
	go ssh.DiscardRequests(reqs)
	n, err := io.Copy(w, ch)
	if err == nil && n != v.Size {
		err = fmt.Errorf("%s from %s: %d of %d bytes", v.Path, src.Addr, n, v.Size)
	}
	return true, err
}
