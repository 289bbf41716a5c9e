package netboot

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
)

var (
	linkLocal   = netip.MustParseAddr("fe80::1")
	unspecified = netip.IPv6Unspecified()
)

func TestParseRS(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	slla := append([]byte{1, 1}, mac...)
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name    string
		b       []byte
		src     netip.Addr
		want    net.HardwareAddr
		wantErr bool
	}{
		{"bare", rs, linkLocal, nil, false},
		{"with lladdr", cat(rs, slla), linkLocal, mac, false},
		{"unknown option skipped", cat(rs, []byte{99, 1, 0, 0, 0, 0, 0, 0}, slla), linkLocal, mac, false},
		{"bare from ::", rs, unspecified, nil, false},
		{"lladdr from ::", cat(rs, slla), unspecified, nil, true},
		{"short", rs[:7], linkLocal, nil, true},
		{"advertisement", cat([]byte{134}, rs[1:]), linkLocal, nil, true},
		{"code 1", cat([]byte{133, 1}, rs[2:]), linkLocal, nil, true},
		{"option length 0", cat(rs, []byte{1, 0, 0, 0, 0, 0, 0, 0}), linkLocal, nil, true},
		{"option truncated", cat(rs, slla[:5]), linkLocal, nil, true},
		{"option header cut", cat(rs, []byte{1}), linkLocal, nil, true},
		{"option longer than packet", cat(rs, []byte{1, 2, 0, 0, 0, 0, 0, 0}), linkLocal, nil, true},
	}
	for _, tt := range tests {
		got, err := parseRS(tt.b, tt.src)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: parseRS(% x) err = %v, want error %v", tt.name, tt.b, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, errBadRS) {
			t.Errorf("%s: parseRS err = %v, want errBadRS", tt.name, err)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s: parseRS = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestBuildRA(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	want := cat([]byte{134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{1, 1}, mac)
	if got := buildRA(mac); !bytes.Equal(got, want) {
		t.Errorf("buildRA = % x, want % x", got, want)
	}
	if got := buildRA(nil); len(got) != 16 {
		t.Errorf("buildRA(nil) is %d bytes, want 16", len(got))
	}
}

// FuzzParseRS: any bytes, no panic; what is accepted is well formed.
func FuzzParseRS(f *testing.F) {
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 1, 2, 3}, false)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0}, true)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 200, 1}, false)
	f.Fuzz(func(t *testing.T, b []byte, fromUnspecified bool) {
		src := linkLocal
		if fromUnspecified {
			src = unspecified
		}
		lladdr, err := parseRS(b, src)
		if err != nil {
			return
		}
		if len(b) < 8 || b[0] != icmpRouterSolicitation || b[1] != 0 {
			t.Fatalf("parseRS(% x) accepted a non-solicitation", b)
		}
		if lladdr != nil && fromUnspecified {
			t.Fatalf("parseRS(% x) accepted a link-layer address from ::", b)
		}
	})
}
