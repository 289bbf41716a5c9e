package master

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/wire"
)

// How a node's connection authenticated (ssh.Permissions extension
// "auth"): with a boot token (a node that has just booted) or with the key
// pinned for the node (the node itself, again).
const (
	authToken = "token"
	authKey   = "key"
)

// helloLimit: a node that connected and has not said hello within this is
// dropped. A real one says it at once (it waits only for its view, 15 s at
// most); one that never does must not sit in boot.
var helloLimit = 45 * time.Second

// takeoverPing bounds the ping of a node's old connection when a new boot
// of the node connects: an old connection that answers is the node alive.
const takeoverPing = 3 * time.Second

func (m *Master) sshConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-bproc",
		// Only what the node's own key signs, after a first connection
		// that showed a boot token.
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			num, files, err := m.admit(meta)
			if err != nil {
				return nil, err
			}
			m.mu.Lock()
			pin := m.pins[num]
			m.mu.Unlock()
			if pin == nil {
				return nil, fmt.Errorf("node %d: key %s: no key is pinned for the node (it shows its boot token first)", num, ssh.FingerprintSHA256(key))
			}
			if !bytes.Equal(key.Marshal(), pin.Marshal()) {
				return nil, fmt.Errorf("node %d: key %s is not the key pinned for the node", num, ssh.FingerprintSHA256(key))
			}
			return permissions(num, files, authKey, key), nil
		},
		// A node's first connection of a boot: its token and its new key.
		PasswordCallback: func(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
			num, files, err := m.admit(meta)
			if err != nil {
				return nil, err
			}
			if files {
				return nil, fmt.Errorf("node %d: a files connection signs with the node's pinned key, not a boot token", num)
			}
			cred, err := nodeauth.ParseCredential(string(password))
			if err != nil {
				return nil, fmt.Errorf("node %d: %w", num, err)
			}
			from, _ := netip.ParseAddrPort(meta.RemoteAddr().String())
			if _, err := m.tokens.Use(cred.Token, num, from.Addr()); err != nil {
				return nil, fmt.Errorf("node %d: %w", num, err)
			}
			return permissions(num, false, authToken, cred.Key), nil
		},
	}
	cfg.AddHostKey(m.keys.Host)
	return cfg
}

func permissions(num int, files bool, how string, key ssh.PublicKey) *ssh.Permissions {
	ext := map[string]string{"node": strconv.Itoa(num), "auth": how, "key": string(key.Marshal())}
	if files {
		ext["files"] = "1"
	}
	return &ssh.Permissions{Extensions: ext}
}

// admit checks what every connection must be: a node of the table,
// from an address the config allows it.
func (m *Master) admit(meta ssh.ConnMetadata) (int, bool, error) {
	num, files, err := wire.ParseUser(meta.User())
	if err != nil {
		return 0, false, err
	}
	from, _ := netip.ParseAddrPort(meta.RemoteAddr().String())
	m.mu.Lock()
	n, known := m.nodes[num]
	known = known && !n.dropped
	allowed := known && n.allowsAddr(from.Addr())
	m.mu.Unlock()
	if !known {
		return 0, false, fmt.Errorf("node %d: not in the node table", num)
	}
	if !allowed {
		return 0, false, fmt.Errorf("node %d: connects from %s, not from its address in the config", num, from.Addr())
	}
	return num, files, nil
}

// pinnedKey is the key pinned for node num, nil if none.
func (m *Master) pinnedKey(num int) ssh.PublicKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pins[num]
}

// errNodeAlive refuses a new boot of a node whose connection answers.
var errNodeAlive = errors.New("node is up and answers on its connection; a second connection with a new boot token is not a takeover")

// takeOver decides on sc, a connection of n that showed a new boot token
// while n has a connection old: a node that really booted again left a
// dead one behind, which does not answer a ping; one that answers is the
// node, alive, and the newcomer is refused.
func (m *Master) takeOver(old *ssh.ServerConn) error {
	if old == nil {
		return nil
	}
	answered := make(chan bool, 1)
	m.routines.Go(func() {
		ok, _, err := old.SendRequest(wire.ReqPing, true, nil)
		answered <- err == nil && ok
	})
	select {
	case ok := <-answered:
		if ok {
			return errNodeAlive
		}
	case <-time.After(takeoverPing):
	}
	return nil
}

// pinLocked pins key for num (under m.mu) and saves the pins.
func (m *Master) pinLocked(num int, key ssh.PublicKey) error {
	m.pins[num] = key
	return m.savePinsLocked()
}

// nodeToken mints a boot token for a node started by hand (root only).
func (m *Master) nodeToken(c localapi.Cred, num *int) (string, error) {
	if c.UID != 0 {
		return "", errors.New("node-token: Permission denied (root only)")
	}
	if num == nil {
		return "", errors.New("node-token: no node named")
	}
	m.mu.Lock()
	n, ok := m.nodes[*num]
	ok = ok && !n.dropped
	m.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("node-token: node %d: not in the node table", *num)
	}
	tok, err := m.tokens.Mint(*num, nil, netip.Addr{}, 0)
	if err != nil {
		return "", fmt.Errorf("node-token: %w", err)
	}
	m.log.Info("boot token given for a node started by hand", "node", *num, "by_uid", c.UID)
	return tok, nil
}
