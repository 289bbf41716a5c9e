package nodeview

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/node"
	"github.com/bproc/bproc/internal/node/nodeview"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// masterConn is the node's files connection to the master, dialed when a
// session is first needed and again after it broke: the view outlives a
// master restart.
type masterConn struct {
	ctx     context.Context
	addr    string
	node    int
	key     ssh.Signer
	hostKey ssh.PublicKey
	log     *slog.Logger

	mu   sync.Mutex
	conn ssh.Conn
	// lost: bpslave gave up on the master (see masterLost); no dialing
	// until it has the master again.
	lost bool
	// peer is this node's server of copies for other nodes (it listens
	// on the address that reaches the master), announced to the master
	// on every connection.
	peer *peerServer
	// view is told what changed on the master (wire.ReqInval); set once
	// mounted.
	view *nodeview.View
}

// setView starts passing the master's word of changes to v.
func (m *masterConn) setView(v *nodeview.View) {
	m.mu.Lock()
	m.view = v
	m.mu.Unlock()
}

// serveRequests answers the master's requests on the files connection.
// Each is handled apart: the kernel may hold an invalidation until a
// lookup of the same directory is answered, and that answer arrives on
// this connection, which must go on being read meanwhile.
func (m *masterConn) serveRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.Type != wire.ReqInval {
			if r.WantReply {
				r.Reply(false, nil)
			}
			continue
		}
		go func() {
			var msg wire.Inval
			if err := wire.Decode(wire.ReqInval, r.Payload, &msg); err != nil {
				m.log.Warn("bad request from the master", "err", err)
				msg = wire.Inval{All: true}
			}
			m.invalidate(msg)
			r.Reply(true, nil)
		}()
	}
}

// invalidate passes msg to the view, if mounted.
func (m *masterConn) invalidate(msg wire.Inval) {
	m.mu.Lock()
	v := m.view
	m.mu.Unlock()
	if v != nil {
		v.Invalidate(msg)
	}
}

// files opens an sftp session as uid (see node.OpenFiles). A session
// lost with its connection is dialed again at once (sessions.do), most
// often before the connection's end has reached get: that connection is
// dropped and a new one dialed, once.
func (m *masterConn) files(uid uint32) (*sftp.Client, error) {
	for attempt := 0; ; attempt++ {
		conn, err := m.get()
		if err != nil {
			return nil, err
		}
		c, err := node.OpenFiles(conn, uid)
		if !errors.Is(err, sshconn.ErrClosed) || attempt > 0 {
			return c, err
		}
		m.drop(conn)
	}
}

// drop forgets conn, which has ended, if it is still the current one.
func (m *masterConn) drop(conn ssh.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == conn {
		m.conn = nil
	}
}

func (m *masterConn) get() (ssh.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return nil, errMasterLost
	}
	if m.conn != nil {
		return m.conn, nil
	}
	conn, chans, reqs, err := node.DialMaster(m.ctx, m.addr, wire.FilesUser(m.node), ssh.PublicKeys(m.key), m.hostKey)
	if err != nil {
		return nil, err
	}
	go m.serveRequests(reqs)
	go func() {
		for nc := range chans {
			nc.Reject(ssh.UnknownChannelType, "a files connection takes no channels")
		}
	}()
	go func() {
		err := conn.Wait()
		m.mu.Lock()
		if m.conn == conn {
			m.conn = nil
		}
		m.mu.Unlock()
		if m.ctx.Err() == nil {
			m.log.Warn("files connection to the master lost; dialing again when needed", "err", err)
		}
		// The master's watches of what it served went with the
		// connection: changes from now on would not be told.
		m.invalidate(wire.Inval{All: true})
	}()
	m.conn = conn
	if m.peer != nil {
		conn.SendRequest(wire.ReqPeerAddr, false, []byte(m.peer.addr()))
	}
	return conn, nil
}

// servePeers starts serving this node's copies to other nodes with
// newPeer, on the address this node reaches the master from, and tells
// the master where.
func (m *masterConn) servePeers(newPeer func(host string) (*peerServer, error)) error {
	conn, err := m.get()
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(conn.LocalAddr().String())
	if err != nil {
		return err
	}
	p, err := newPeer(host)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.peer = p
	m.mu.Unlock()
	_, _, err = conn.SendRequest(wire.ReqPeerAddr, false, []byte(p.addr()))
	return err
}

// errMasterLost answers file requests while this node has no master.
var errMasterLost = errors.New("nodeview: the node lost its master")

// masterLost is bpslave's word (SIGUSR1) that it gave up on the master
// (silent for two ping intervals) or lost its connection, and has killed
// the node's processes. The files connection goes too: a request on it
// would wait for the silent master as long as TCP holds on (minutes), and
// a killed process whose open or read waits on that request is in the
// kernel's uninterruptible FUSE wait: it would not die. Until masterBack,
// requests fail at once instead of dialing a master that does not answer
// (nodeview retries a lost session once).
func (m *masterConn) masterLost() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lost = true
	if m.conn != nil {
		m.log.Warn("bpslave lost the master; dropping the files connection")
		m.conn.Close()
		m.conn = nil
	}
}

// masterBack is bpslave's word (SIGUSR2) that it is connected again.
func (m *masterConn) masterBack() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lost = false
}

func (m *masterConn) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
	if m.peer != nil {
		m.peer.close()
	}
}
