// Package nodeauth is how a node proves which node it is without a
// secret shared by the cluster: a one-time boot token that the master
// hands to one booting node (in its iPXE script, or to a local node it
// starts itself), used up at the node's first connection, where the node
// shows the public half of a key it made in memory; the master pins that
// key for the node, and every later connection of the node (its files
// connection, a reconnect) signs with it.
package nodeauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TokenLife is how long a minted token may wait for its node: a boot
// from script to bpslave takes seconds (6.6 s under TCG); ten minutes
// leave room for a slow firmware and keep a token that leaked useless
// soon after.
const TokenLife = 10 * time.Minute

// tokenBytes is the token's entropy; it is written as hex.
const tokenBytes = 32

// Grant is what a token stands for.
type Grant struct {
	Node int
	// MAC is the booting NIC the script was served for ("" for a token
	// the master gave otherwise); only logged.
	MAC string
	// Addr, when valid, is the only address the token may be used from:
	// the address the node's lease gave.
	Addr    netip.Addr
	Expires time.Time
}

// Tokens holds the tokens minted and not yet used. At most one per node
// is outstanding: minting another for a node forgets the older one, which
// bounds the store by the node table.
type Tokens struct {
	mu     sync.Mutex
	byHash map[[sha256.Size]byte]Grant
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// NewTokens makes an empty store.
func NewTokens() *Tokens { return &Tokens{byHash: make(map[[sha256.Size]byte]Grant)} }

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Mint makes a token for node, usable once, from addr only when addr is
// valid, for life (TokenLife when 0).
func (t *Tokens) Mint(node int, mac net.HardwareAddr, addr netip.Addr, life time.Duration) (string, error) {
	if life <= 0 {
		life = TokenLife
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("node %d: mint boot token: %w", node, err)
	}
	tok := hex.EncodeToString(b[:])
	g := Grant{Node: node, Addr: addr.Unmap(), Expires: t.now().Add(life)}
	if mac != nil {
		g.MAC = mac.String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for h, old := range t.byHash {
		if old.Node == node || now.After(old.Expires) {
			delete(t.byHash, h)
		}
	}
	t.byHash[sha256.Sum256([]byte(tok))] = g
	return tok, nil
}

// Errors of Use; each refusal names what was wrong.
var (
	ErrUnknownToken = errors.New("boot token unknown or already used")
	ErrExpired      = errors.New("boot token expired")
	ErrWrongNode    = errors.New("boot token is another node's")
	ErrWrongAddr    = errors.New("boot token used from an address it was not given to")
)

// Use spends tok for node, connecting from from. A token is spent by its
// first presentation whatever the outcome: one seen from the wrong node
// or address has leaked, and the node it was for boots again for a new
// one. The store is keyed by the token's SHA-256, so a lookup's timing
// tells nothing of a token.
func (t *Tokens) Use(tok string, node int, from netip.Addr) (Grant, error) {
	h := sha256.Sum256([]byte(tok))
	t.mu.Lock()
	g, ok := t.byHash[h]
	delete(t.byHash, h)
	t.mu.Unlock()
	switch {
	case !ok:
		return Grant{}, ErrUnknownToken
	case t.now().After(g.Expires):
		return g, ErrExpired
	case g.Node != node:
		return g, fmt.Errorf("%w (node %d)", ErrWrongNode, g.Node)
	case g.Addr.IsValid() && g.Addr != from.Unmap():
		return g, fmt.Errorf("%w (%s, not %s)", ErrWrongAddr, g.Addr, from.Unmap())
	}
	return g, nil
}

// Outstanding is how many tokens wait for their node (tests, logs).
func (t *Tokens) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byHash)
}
