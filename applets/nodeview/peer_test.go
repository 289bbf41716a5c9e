package nodeview

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/wire"
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

// A node serves a copy only for a ticket the master signed and that has
// not expired.
func TestTicket(t *testing.T) {
	master, stranger := signer(t), signer(t)
	s := &peerServer{masterKey: master.PublicKey()}
	v := wire.Version{Path: "/usr/lib/big", Size: 1 << 20, Sum: strings.Repeat("5a", 32)}
	tick := func(by ssh.Signer, expires time.Time) []byte {
		tk := wire.Encode(wire.Ticket{Version: v, Node: 3, Expires: expires.Unix()})
		sig, err := by.Sign(rand.Reader, tk)
		if err != nil {
			t.Fatal(err)
		}
		return wire.Encode(wire.Source{Ticket: tk, Sig: ssh.Marshal(sig)})
	}
	if got, err := s.ticket(tick(master, time.Now().Add(time.Minute))); err != nil || got.Version != v {
		t.Errorf("the master's ticket: %+v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		payload []byte
		want    string
	}{
		"signed by another key": {tick(stranger, time.Now().Add(time.Minute)), "not signed by the master"},
		"expired":               {tick(master, time.Now().Add(-time.Second)), "expired"},
		"garbage":               {[]byte("{"), ""},
	} {
		if _, err := s.ticket(tc.payload); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
