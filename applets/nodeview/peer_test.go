package nodeview

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

func signer(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A node serves a copy only for a ticket the master signed, that has not
// expired, and that was signed for the key the client authenticated with.
func TestTicket(t *testing.T) {
	master, stranger, fetcher, other := signer(t), signer(t), signer(t), signer(t)
	s := &peerServer{masterKey: master.PublicKey()}
	v := wire.Version{Path: "/usr/lib/big", Size: 1 << 20, Sum: strings.Repeat("5a", 32)}
	tick := func(by ssh.Signer, expires time.Time, key ssh.PublicKey) []byte {
		tk := wire.Encode(wire.Ticket{Version: v, Node: 3, Key: key.Marshal(), Expires: expires.Unix()})
		sig, err := by.Sign(rand.Reader, tk)
		if err != nil {
			t.Fatal(err)
		}
		return wire.Encode(wire.Source{Ticket: tk, Sig: ssh.Marshal(sig)})
	}
	client := fetcher.PublicKey().Marshal()
	if got, err := s.ticket(tick(master, time.Now().Add(time.Minute), fetcher.PublicKey()), client); err != nil || got.Version != v {
		t.Errorf("the master's ticket: %+v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		payload []byte
		want    string
	}{
		"signed by another key":   {tick(stranger, time.Now().Add(time.Minute), fetcher.PublicKey()), "not signed by the master"},
		"expired":                 {tick(master, time.Now().Add(-time.Second), fetcher.PublicKey()), "expired"},
		"bound to another node's": {tick(master, time.Now().Add(time.Minute), other.PublicKey()), "not the key this connection shows"},
		"garbage":                 {[]byte("{"), ""},
	} {
		if _, err := s.ticket(tc.payload, client); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

// TestPeerKeys: over a real SSH connection to a node's copy server, a
// client that expects another node's key refuses the server; a client
// whose key is not the one its ticket names gets no copy, and one with
// the ticket's key gets past the ticket (to the copy: here none).
func TestPeerKeys(t *testing.T) {
	master, serving, fetcher, thief := signer(t), signer(t), signer(t), signer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &peerServer{l: l, cfg: peerServerConfig(serving), masterKey: master.PublicKey(), log: slog.New(slog.DiscardHandler)}
	go s.serve()
	defer s.close()
	dial := func(key ssh.Signer, hostKey ssh.PublicKey) (*ssh.Client, error) {
		return ssh.Dial("tcp", s.addr(), &ssh.ClientConfig{
			User: wire.PeerUser, Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
			HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 5 * time.Second,
		})
	}
	if c, err := dial(fetcher, thief.PublicKey()); err == nil {
		c.Close()
		t.Fatal("a server showing another key than the master named was taken")
	}
	v := wire.Version{Path: "/usr/lib/big", Size: 1 << 20, Sum: strings.Repeat("5a", 32)}
	tk := wire.Encode(wire.Ticket{Version: v, Node: 3, Key: fetcher.PublicKey().Marshal(), Expires: time.Now().Add(time.Minute).Unix()})
	sig, _ := master.Sign(rand.Reader, tk)
	payload := wire.Encode(wire.Source{Ticket: tk, Sig: ssh.Marshal(sig)})

	c, err := dial(thief, serving.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.OpenChannel(wire.ChanPeerCopy, payload)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited || !strings.Contains(oce.Message, "not the key this connection shows") {
		t.Errorf("another node's ticket: %v, want it refused for its key", err)
	}
}
