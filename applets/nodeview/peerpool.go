package nodeview

import (
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// maxPeerConns bounds the connections to other nodes kept for the next
// copy; one more is dialed for a copy and closed after it.
const maxPeerConns = 64

// peerConns keeps this node's connections to other nodes, one per node
// (address and pinned key), so that a copy costs a channel, not an SSH
// handshake: with every file going through other nodes whatever its size,
// a handshake would cost more than most files.
type peerConns struct {
	key ssh.Signer // this node's key, which it authenticates with

	mu    sync.Mutex
	conns map[string]*ssh.Client // by address and key
}

// get returns a connection to the node at addr holding hostKey, and
// whether it is kept (false: the caller closes it after use).
func (p *peerConns) get(addr string, hostKey ssh.PublicKey) (*ssh.Client, bool, error) {
	k := addr + " " + string(hostKey.Marshal())
	p.mu.Lock()
	c := p.conns[k]
	p.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            wire.PeerUser,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(p.key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		ClientVersion:   "SSH-2.0-bproc-peer",
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		p.conns = make(map[string]*ssh.Client)
	}
	if old := p.conns[k]; old != nil {
		c.Close() // dialed meanwhile by another copy
		return old, true, nil
	}
	if len(p.conns) >= maxPeerConns {
		return c, false, nil
	}
	p.conns[k] = c
	go func() {
		c.Wait()
		p.drop(c)
	}()
	return c, true, nil
}

// drop forgets c (it failed, or ended) and closes it.
func (p *peerConns) drop(c *ssh.Client) {
	p.mu.Lock()
	for k, x := range p.conns {
		if x == c {
			delete(p.conns, k)
		}
	}
	p.mu.Unlock()
	c.Close()
}

// close closes every kept connection.
func (p *peerConns) close() {
	p.mu.Lock()
	all := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
