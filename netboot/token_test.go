package netboot

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// TestScriptToken: the boot script of a known MAC carries a boot token
// only when it is asked for from the address that MAC's lease gives; a
// host asking with another node's MAC gets a script without one.
func TestScriptToken(t *testing.T) {
	here, there := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	var minted []int
	o := &Options{
		Addr: netip.MustParsePrefix("127.0.0.1/8"),
		Lookup: func(mac net.HardwareAddr) (netip.Addr, int, bool) {
			switch mac.String() {
			case here.String():
				return netip.MustParseAddr("127.0.0.1"), 1, true
			case there.String():
				return netip.MustParseAddr("10.7.0.12"), 2, true
			}
			return netip.Addr{}, 0, false
		},
		MintToken: func(node int, mac net.HardwareAddr, ip netip.Addr) (string, error) {
			minted = append(minted, node)
			return strings.Repeat("ab", 32), nil
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHTTPServer(o, ln, &leaseTable{m: map[netip.Addr]string{}})
	go h.serve()
	defer h.shutdown()
	get := func(mac net.HardwareAddr) string {
		resp, err := http.Get("http://" + ln.Addr().String() + "/boot.ipxe?mac=" + mac.String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if s := get(here); !strings.Contains(s, " bproc.token="+strings.Repeat("ab", 32)) {
		t.Errorf("script for the lease's own address has no token:\n%s", s)
	}
	if s := get(there); strings.Contains(s, "bproc.token") {
		t.Errorf("script asked for from another address than the lease carries a token:\n%s", s)
	}
	if len(minted) != 1 || minted[0] != 1 {
		t.Errorf("tokens minted for nodes %v, want [1]", minted)
	}
}
