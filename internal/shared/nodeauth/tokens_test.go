package nodeauth

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	lease = netip.MustParseAddr("10.7.0.11")
	mac   = net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
)

// A token is good once, for its node, from its address, until it expires.
func TestTokenOnce(t *testing.T) {
	ts := NewTokens()
	tok, err := ts.Mint(1, mac, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidToken(tok) {
		t.Fatalf("minted %q: not of a token's form", tok)
	}
	g, err := ts.Use(tok, 1, lease)
	if err != nil || g.Node != 1 || g.MAC != mac.String() {
		t.Fatalf("first use: %+v, %v", g, err)
	}
	if _, err := ts.Use(tok, 1, lease); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("second use: %v, want %v", err, ErrUnknownToken)
	}
	if ts.Outstanding() != 0 {
		t.Errorf("%d tokens left after use", ts.Outstanding())
	}
}

func TestTokenRefusals(t *testing.T) {
	now := time.Unix(1000, 0)
	ts := NewTokens()
	ts.Now = func() time.Time { return now }
	for name, tc := range map[string]struct {
		node  int
		from  netip.Addr
		after time.Duration
		want  error
	}{
		"another node":          {2, lease, 0, ErrWrongNode},
		"another address":       {1, netip.MustParseAddr("10.7.0.66"), 0, ErrWrongAddr},
		"expired":               {1, lease, TokenLife + time.Second, ErrExpired},
		"mapped address is one": {1, netip.AddrFrom16(lease.As16()), 0, nil},
	} {
		now = time.Unix(1000, 0)
		tok, err := ts.Mint(1, mac, lease, 0)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(tc.after)
		if _, err := ts.Use(tok, tc.node, tc.from); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		// Spent, whatever the outcome.
		if _, err := ts.Use(tok, 1, lease); !errors.Is(err, ErrUnknownToken) {
			t.Errorf("%s: the token again: %v, want %v", name, err, ErrUnknownToken)
		}
	}
	if _, err := ts.Use(strings.Repeat("0", 64), 1, lease); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("a token never minted: %v", err)
	}
}

// An unbound token (a local node's) is good from any address; a node has
// one outstanding token at most.
func TestTokenUnboundAndReplaced(t *testing.T) {
	ts := NewTokens()
	old, _ := ts.Mint(3, nil, netip.Addr{}, 0)
	tok, _ := ts.Mint(3, nil, netip.Addr{}, 0)
	other, _ := ts.Mint(4, nil, netip.Addr{}, 0)
	if ts.Outstanding() != 2 {
		t.Errorf("%d outstanding, want 2 (one a node)", ts.Outstanding())
	}
	if _, err := ts.Use(old, 3, lease); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("the replaced token: %v", err)
	}
	if _, err := ts.Use(tok, 3, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("an unbound token: %v", err)
	}
	if _, err := ts.Use(other, 4, lease); err != nil {
		t.Errorf("another node's token: %v", err)
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	k, _, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.Repeat("ab", 32)
	c, err := ParseCredential(Credential{Token: tok, Key: k.PublicKey()}.String())
	if err != nil || c.Token != tok || string(c.Key.Marshal()) != string(k.PublicKey().Marshal()) {
		t.Fatalf("round trip: %+v, %v", c, err)
	}
	for _, bad := range []string{
		"", "guess", "bproc-token1 " + tok,
		"bproc-token1 " + strings.Repeat("AB", 32) + " ssh-ed25519 AAAA",
		"bproc-token1 " + tok + " ssh-rsa AAAA",
		"bproc-token1 " + tok + " ssh-ed25519 !!!",
		"bproc-token1 " + tok + " ssh-ed25519 AAAA",
		"bproc-token1  " + tok + " ssh-ed25519 AAAA",
		strings.Repeat("x", 600),
	} {
		if _, err := ParseCredential(bad); err == nil {
			t.Errorf("ParseCredential(%.40q) accepted", bad)
		}
	}
}
