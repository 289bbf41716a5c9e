package master

import (
	"crypto/rand"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Nodes fetch the master's files from each other: the master
// answers each node that is about to fetch a version of a file with a node
// that has it or is fetching it (and serves fewer than peerFanout others),
// so that a file many nodes want at once leaves the master about once and
// spreads down a tree. A node that fetches from nobody fetches from the
// master.
//
// A small file's tree is wider (smallFanout): what it costs is the
// round trips and handshakes down the tree, one level after another,
// not the bytes a node sends on. And a node is sent, among the nodes
// that can serve it, one it fetched from before, whose connection it
// keeps (the nodes' peerConns): a copy then costs a channel, not an SSH
// handshake.
const (
	peerFanout    = 2
	smallFanout   = 8
	smallFile     = 1 << 20 // smaller files get smallFanout
	maxLinks      = 64      // sources remembered per node (a node keeps 64 connections)
	ticketLife    = time.Minute
	holderForget  = 10 * time.Minute // a holder not heard of since is dropped
	maxPeerHolder = 64               // holders kept per version
	maxContents   = 1 << 16          // contents recorded before a sweep of old ones
)

// content is what a holder holds: a copy of a sum, whatever path it was
// fetched as.
type content struct {
	sum  string
	size int64
}

type holder struct {
	node   int
	served int
	since  time.Time
}

// peers is the master's record of the nodes' copies.
type peers struct {
	mu      sync.Mutex
	addrs   map[int]string // node -> where it serves copies
	holders map[content][]*holder
	// links: node -> the nodes it was sent to fetch from (and so has,
	// or had, a connection to).
	links map[int]map[int]bool
}

func (p *peers) setAddr(node int, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addrs == nil {
		p.addrs = make(map[int]string)
	}
	p.addrs[node] = addr
}

func (p *peers) dropNode(node int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.addrs, node)
	delete(p.links, node)
	for _, l := range p.links {
		delete(l, node)
	}
	for v, hs := range p.holders {
		kept := hs[:0]
		for _, h := range hs {
			if h.node != node {
				kept = append(kept, h)
			}
		}
		p.holders[v] = kept
	}
}

// pick chooses where node fetches v from ("" : the master), and the node
// serving there, and records node as a holder of v from now on.
func (p *peers) pick(node int, v wire.Version, now time.Time) (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holders == nil {
		p.holders = make(map[content][]*holder)
	}
	if len(p.holders) >= maxContents {
		p.sweepLocked(now)
	}
	key := content{v.Sum, v.Size}
	hs := p.holders[key][:0:0]
	for _, h := range p.holders[key] {
		if now.Sub(h.since) < holderForget && h.node != node {
			hs = append(hs, h)
		}
	}
	fanout := peerFanout
	if v.Size < smallFile {
		fanout = smallFanout
	}
	var pick *holder
	for _, h := range hs {
		if p.addrs[h.node] == "" || h.served >= fanout {
			continue
		}
		if pick == nil {
			pick = h
		}
		if p.links[node][h.node] {
			pick = h // connected already
			break
		}
	}
	addr, from := "", -1
	if pick != nil {
		pick.served++
		addr, from = p.addrs[pick.node], pick.node
		p.linkLocked(node, from)
	}
	if len(hs) < maxPeerHolder {
		hs = append(hs, &holder{node: node, since: now})
	}
	p.holders[key] = hs
	return addr, from
}

// linkLocked records that node was sent to fetch from source.
func (p *peers) linkLocked(node, source int) {
	if p.links == nil {
		p.links = make(map[int]map[int]bool)
	}
	l := p.links[node]
	if l == nil {
		l = make(map[int]bool)
		p.links[node] = l
	}
	if len(l) >= maxLinks && !l[source] {
		return // the node keeps no more connections either
	}
	l[source] = true
}

// sweepLocked forgets the contents whose holders were all heard of too
// long ago: every file of every size goes through here, and the record
// must not grow with all the files nodes ever fetched.
func (p *peers) sweepLocked(now time.Time) {
	for k, hs := range p.holders {
		if !slices.ContainsFunc(hs, func(h *holder) bool { return now.Sub(h.since) < holderForget }) {
			delete(p.holders, k)
		}
	}
}

// filesRequest answers a node's global request on its files connection.
func (m *Master) filesRequest(num int, r *ssh.Request) {
	switch r.Type {
	case wire.ReqPing:
		r.Reply(true, nil)
	case wire.ReqPeerAddr:
		host, port, err := net.SplitHostPort(string(r.Payload))
		if err != nil || net.ParseIP(host) == nil || port == "" || port == "0" {
			m.log.Warn("bad peer address from node", "node", num, "addr", string(r.Payload))
			r.Reply(false, nil)
			return
		}
		m.peers.setAddr(num, string(r.Payload))
		r.Reply(true, nil)
	case wire.ReqSource:
		src, err := m.source(num, r.Payload)
		if err != nil {
			m.log.Debug("source refused", "node", num, "err", err)
			r.Reply(false, []byte(err.Error()))
			return
		}
		r.Reply(true, wire.Encode(src))
	default:
		r.Reply(false, nil)
	}
}

// source is where node num should fetch a version of a file from, once the
// master has checked, as the user, that the file is that version and the
// user may read it.
func (m *Master) source(num int, payload []byte) (wire.Source, error) {
	var req wire.SourceRequest
	if err := wire.Decode(wire.ReqSource, payload, &req); err != nil {
		return wire.Source{}, err
	}
	v := req.Version
	if err := v.Validate(); err != nil {
		return wire.Source{}, err
	}
	m.mu.Lock()
	n := m.nodes[num]
	m.mu.Unlock()
	if n == nil {
		return wire.Source{}, fmt.Errorf("no node %d", num)
	}
	cred, ok := m.credOnNode(n, req.UID)
	if !ok {
		return wire.Source{}, fmt.Errorf("uid %d has no process on node %d", req.UID, num)
	}
	err := asuser.Do(cred, func() error {
		sum, size, err := m.hashes.SumPath(v.Path)
		if err != nil {
			return err
		}
		if size != v.Size || sum.String() != v.Sum {
			return fmt.Errorf("%s: not that version", v.Path)
		}
		return nil
	})
	if err != nil {
		return wire.Source{}, err
	}
	now := time.Now()
	addr, from := m.peers.pick(num, v, now)
	if addr == "" {
		return wire.Source{}, nil
	}
	// Each side knows the other by the key the master pinned at its
	// boot; a node without one fetches from the master.
	fetcher, server := m.pinnedKey(num), m.pinnedKey(from)
	if fetcher == nil || server == nil {
		return wire.Source{}, nil
	}
	t := wire.Encode(wire.Ticket{Version: v, Node: num, Key: fetcher.Marshal(), Expires: now.Add(ticketLife).Unix()})
	sig, err := m.keys.Host.Sign(rand.Reader, t)
	if err != nil {
		return wire.Source{}, err
	}
	return wire.Source{Addr: addr, HostKey: server.Marshal(), Ticket: t, Sig: ssh.Marshal(sig)}, nil
}
