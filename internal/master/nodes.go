package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/acceptloop"
	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// node is one row of the node table. The master's mu guards every field.
type node struct {
	num   int
	local bool
	state string          // localapi.State*
	held  string          // error or unavailable, set by the administrator
	perms perms           // owner, group, mode
	conn  *ssh.ServerConn // nil while down
	addr  string
	hello wire.NodeHello
	proto int             // the protocol version spoken with the node (wire.Speak)
	stats *wire.NodeStats // last reported; nil while down
	procs map[int]*proc
	// procsPeak is the most procs held (shrunk).
	procsPeak int
	// filesSent counts the bytes of the master's files sent to the node
	// (its view, pushes): what a diskless node costs the master.
	filesSent atomic.Int64
	// moving are the credentials of processes being moved here, by PID:
	// the node opens their files as them before they are procs.
	moving map[int]localapi.Cred
	// starting counts the processes whose start was sent here and whose
	// PID on the node is not known yet (Master.startSent).
	starting int
	// own are the master's own processes on the node, by uid (node_up.d,
	// the libraries): the node reads files as their user while they run.
	own map[uint32]ownProc
	// allowed are the addresses the config gives the node; it may connect
	// from no other. Empty: from any.
	allowed []netip.Addr
	// dropped: a reload removed the node while it was connected; it
	// leaves the table when it goes down.
	dropped bool
	// reason and since: why and since when it is held (nodes_held.go).
	reason string
	since  time.Time
	// met: the node has said hello to this master process. unclaimed
	// are the ghost PIDs of processes the node kept from a master before
	// this one, taken back and waiting for their ghosts (procs_restart.go).
	met       bool
	unclaimed map[int]uint32 // by ghost PID: the process's user
	// keptCreds: the user database's credentials of unclaimed's users,
	// for their files meanwhile (files_kept.go).
	keptCreds map[uint32]asuser.Cred
	helloed   chan struct{} // closed at its first hello to this master (files_kept.go)
	// space carries its descendants' relays (procs_spacechan.go); a
	// lock of its own, not the master's mu.
	space spaceChan
}

func newNode(num int, local bool, s saved) *node {
	p := s.perms
	if p == (perms{}) {
		p = defaultPerms
	}
	return &node{num: num, local: local, state: localapi.StateDown, held: s.Held, reason: s.Reason, since: s.since(), perms: p, procs: make(map[int]*proc)}
}

func (m *Master) acceptNodes(ctx context.Context, l net.Listener) {
	serve := func(c net.Conn) { m.routines.serve(c, func() { m.serveNode(ctx, c) }) }
	err := acceptloop.ServeFull(l, serve, func(c net.Conn) { c.Close() },
		func(err error) { m.log.Warn("accept node connection; trying again", "err", err) })
	if err != nil && ctx.Err() == nil {
		m.log.Error("accept node connection", "err", err)
	}
}

// serveNode runs one node connection from handshake to hang-up.
func (m *Master) serveNode(ctx context.Context, c net.Conn) {
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a handshake that stalls is refused
	sc, chans, reqs, err := ssh.NewServerConn(c, m.ssh)
	if err != nil {
		m.log.Warn("refused node connection", "from", c.RemoteAddr().String(), "reason", refusal(err))
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	num, _ := strconv.Atoi(sc.Permissions.Extensions["node"])
	log := m.log.With("node", num)
	if sc.Permissions.Extensions["files"] != "" {
		m.serveFilesConn(num, sc, chans, reqs, log)
		return
	}

	refuse := func(reason string) {
		m.log.Warn("refused node connection", "from", c.RemoteAddr().String(), "reason", fmt.Sprintf("node %d: %s", num, reason))
		sc.Close()
	}
	m.mu.Lock()
	n := m.nodes[num]
	var old *ssh.ServerConn
	if n != nil {
		old = n.conn
	}
	m.mu.Unlock()
	if n == nil { // a reload removed it during the handshake
		refuse("not in the node table")
		return
	}
	newBoot := sc.Permissions.Extensions["auth"] == authToken
	if newBoot {
		// Never a takeover: a new boot of a node gets in only if the
		// connection it had is dead.
		if err := m.takeOver(old); err != nil {
			refuse(err.Error())
			return
		}
	}
	key, err := ssh.ParsePublicKey([]byte(sc.Permissions.Extensions["key"]))
	if err != nil {
		refuse(err.Error())
		return
	}
	m.mu.Lock()
	if n.conn != old || m.nodes[num] != n {
		// Another connection of the node got in meanwhile.
		m.mu.Unlock()
		refuse("another connection of the node got in meanwhile")
		return
	}
	if newBoot {
		if err := m.pinLocked(num, key); err != nil {
			log.Error("node pinned for this run of the master only", "err", err)
		}
	} else if pin := m.pins[num]; pin == nil || !bytes.Equal(pin.Marshal(), key.Marshal()) {
		m.mu.Unlock()
		refuse("its key is no longer the one pinned for the node")
		return
	}
	n.conn, n.addr, n.state = sc, hostOf(c.RemoteAddr()), localapi.StateBoot
	m.changedLocked()
	m.mu.Unlock()
	if old != nil {
		if newBoot {
			log.Warn("node booted again; its old connection does not answer: dropping it")
		} else {
			log.Info("node connected again with its own key; dropping its old connection")
		}
		old.Close()
	}
	log.Info("node connected", "from", c.RemoteAddr().String(), "auth", sc.Permissions.Extensions["auth"], "key", ssh.FingerprintSHA256(key))
	m.routines.Go(func() {
		for nc := range chans {
			switch nc.ChannelType() {
			case wire.ChanFiles:
				m.routines.Go(func() { m.serveFiles(n, nil, nc, log) }) // unwatched: no ReqInval here
			case wire.ChanAPI:
				m.routines.Go(func() { m.serveAPI(n, nc, log) })
			default:
				nc.Reject(ssh.UnknownChannelType, "unknown channel type "+nc.ChannelType())
			}
		}
	})

	done := make(chan struct{})
	helloed := make(chan struct{})
	m.routines.Go(func() { m.nodeRequests(n, sc, reqs, helloed, log) })
	m.routines.Go(func() { m.pingNode(n, sc, done, log) })
	m.routines.Go(func() {
		select {
		case <-helloed:
		case <-done:
		case <-time.After(helloLimit):
			log.Warn("node connected but said no hello; dropping it", "limit", helloLimit)
			sc.Close()
		}
	})
	sc.Wait()
	close(done)
	if m.nodeDown(n, sc) {
		log.Info("node down")
	}
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return a.String()
}

// nodeRequests handles a node's global requests. The hello starts the
// node's setup (node_up.d), which moves it from boot to up or error.
func (m *Master) nodeRequests(n *node, sc *ssh.ServerConn, reqs <-chan *ssh.Request, helloed chan struct{}, log *slog.Logger) {
	var once sync.Once
	for r := range reqs {
		switch r.Type {
		case wire.ReqPing:
			r.Reply(true, nil)
		case wire.ReqHello:
			var h wire.NodeHello
			if err := wire.Decode(r.Type, r.Payload, &h); err != nil {
				log.Warn("bad hello", "err", err)
				r.Reply(false, nil)
				continue
			}
			proto, err := wire.Speak(h.Protocol)
			if err != nil {
				// One line, to the log and to the node, which logs it
				// too; the node's other connections are not touched.
				why := fmt.Sprintf("node %d: %v", n.num, err)
				log.Warn("refused node hello", "reason", why)
				r.Reply(false, []byte(why))
				sc.Close()
				continue
			}
			m.mu.Lock()
			current := n.conn == sc
			if current {
				n.hello, n.stats, n.proto = h, &h.Stats, proto
				m.changedLocked()
			}
			m.mu.Unlock()
			reply := wire.HelloReply{PingInterval: m.cfg.PingInterval, Protocol: proto}
			var back []*proc
			var unclaimed []int
			if current && proto >= 2 {
				back, unclaimed = m.takeBack(n, h.Kept, h.KeptUIDs, keptCreds(h.KeptUIDs), log)
				reply.Grace, reply.Resume = m.cfg.NodeGrace, append(pids(back), unclaimed...)
			}
			if current {
				m.markHelloed(n)
			}
			r.Reply(true, wire.Encode(reply))
			for _, p := range back {
				m.routines.Go(func() { p.resume(sc) })
			}
			if len(unclaimed) > 0 {
				m.routines.Go(func() { m.endUnclaimed(n, sc, log) }) // procs_restart.go
			}
			if current {
				once.Do(func() { close(helloed) })
				m.routines.Go(func() { m.setUpNode(n, sc, log) })
			}
		case wire.ReqFork:
			if err := m.fork(n, r); err != nil {
				log.Warn("fork on node", "err", err)
				r.Reply(false, nil)
			}
		case wire.ReqChange:
			if err := m.change(n, r); err != nil {
				log.Warn("change on node", "err", err)
			}
		case wire.ReqForked:
			if err := m.forked(n, r); err != nil {
				log.Warn("fork on node", "err", err)
				r.Reply(false, nil)
			}
		default:
			log.Warn("unknown request from node", "type", r.Type)
			r.Reply(false, nil)
		}
	}
}

// pingNode asks the node for its stats every interval (the answer is the
// ping) and drops a node that does not answer for two intervals.
func (m *Master) pingNode(n *node, sc *ssh.ServerConn, done <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(m.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		answered := make(chan struct{})
		m.routines.Go(func() {
			defer close(answered)
			ok, payload, err := sc.SendRequest(wire.ReqStats, true, nil)
			var st wire.NodeStats
			if err != nil || !ok || wire.Decode(wire.ReqStats, payload, &st) != nil {
				return
			}
			m.mu.Lock()
			if n.conn == sc {
				n.stats = &st
			}
			m.mu.Unlock()
		})
		select {
		case <-answered:
		case <-done:
			return
		case <-time.After(2 * m.cfg.PingInterval):
			log.Warn("node silent for two ping intervals; dropping it")
			sc.Close()
			return
		}
	}
}

// nodeDown marks the node down if sc is still its connection. Its
// processes need nothing more: the closed connection ends their channels
// without an exit status, so their ghosts die as killed by SIGKILL with
// "Slave node died".
func (m *Master) nodeDown(n *node, sc *ssh.ServerConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n.conn != sc {
		return false // it is connected again already
	}
	n.conn, n.state, n.stats = nil, localapi.StateDown, nil
	if n.dropped {
		delete(m.nodes, n.num)
	}
	m.changedLocked()
	return true
}

func (m *Master) dropAllNodes() {
	m.mu.Lock()
	var conns []*ssh.ServerConn
	for _, n := range m.nodes {
		if n.conn != nil {
			conns = append(conns, n.conn)
		}
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// watchLimit bounds a watch: the client gets the table at least this often,
// and a client that went away is noticed then.
const watchLimit = time.Minute

// awaitChange waits for a change of the node table after the one a
// client last saw (since, from tableSince; nil: the next change), or max.
// A change between a client's two watches is not lost: since is closed
// already, and the watch returns at once.
func (m *Master) awaitChange(since chan struct{}, max time.Duration) {
	if since == nil {
		m.mu.Lock()
		since = m.nodeChange
		m.mu.Unlock()
	}
	select {
	case <-since:
	case <-m.routines.stopped: // the master stops: Run waits for no watch
	case <-time.After(max):
	}
}

// changedLocked wakes whoever waits for a node change.
func (m *Master) changedLocked() {
	m.obs.nodesLocked(m.nodes)
	close(m.nodeChange)
	m.nodeChange = make(chan struct{})
}

// NodeTable is the table as the local API shows it.
func (m *Master) NodeTable() []localapi.NodeStatus {
	out, _ := m.tableSince()
	return out
}

// tableSince is the table, and what is closed at its next change.
func (m *Master) tableSince() ([]localapi.NodeStatus, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]localapi.NodeStatus, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, localapi.NodeStatus{
			Num: n.num, State: n.state, Addr: n.addr, UID: n.perms.UID, GID: n.perms.GID, Mode: n.perms.Mode,
			Procs: len(n.procs), Local: n.local, Kernel: n.hello.Kernel, Stats: n.stats,
			FilesSent: n.filesSent.Load(), Reason: n.reason, Since: n.heldSince(),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out, m.nodeChange
}

// refusal is why a handshake failed, without x/crypto/ssh's "no auth passed
// yet" that precedes every real reason.
func refusal(err error) string {
	var auth *ssh.ServerAuthError
	if !errors.As(err, &auth) {
		return err.Error()
	}
	var reasons []string
	for _, e := range auth.Errors {
		if !errors.Is(e, ssh.ErrNoAuth) {
			reasons = append(reasons, e.Error())
		}
	}
	if len(reasons) == 0 {
		return "no acceptable authentication offered"
	}
	return strings.Join(reasons, "; ")
}
