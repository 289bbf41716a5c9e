package netboot

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	knownMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	unknownMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	oddMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42} // in the table, outside the subnet
)

func testLookup(mac net.HardwareAddr) (netip.Addr, int, bool) {
	switch mac.String() {
	case knownMAC.String():
		return netip.MustParseAddr("10.99.0.10"), 0, true
	case oddMAC.String():
		return netip.MustParseAddr("192.168.7.7"), 7, true
	}
	return netip.Addr{}, 0, false
}

func testOptions(t testing.TB, log io.Writer) Options {
	o, err := Options{
		Interface:    "bps0",
		Addr:         netip.MustParsePrefix("10.99.0.1/24"),
		Lookup:       testLookup,
		Kernel:       BytesSource([]byte("kernel")),
		Initramfs:    BytesSource([]byte("initramfs")),
		TFTPFiles:    map[string]Source{IPXEBIOS: BytesSource([]byte("bios")), IPXEEFI: BytesSource([]byte("efi"))},
		BIOSBootFile: IPXEBIOS,
		EFIBootFile:  IPXEEFI,
		Logger:       slog.New(slog.NewTextHandler(log, nil)),
	}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	return o
}

func testDHCP(t testing.TB, log io.Writer, onUnknown func(net.HardwareAddr)) *dhcpServer {
	o := testOptions(t, log)
	o.OnUnknown = onUnknown
	return &dhcpServer{
		o:       &o,
		log:     o.Logger,
		unknown: &onceEvery{interval: time.Minute, now: time.Now, last: map[string]time.Time{}},
		leases:  &leaseTable{m: map[netip.Addr]string{}},
	}
}

func discover(t testing.TB, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewDiscovery(mac, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func request(t testing.TB, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m := discover(t, mac, append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, mods...)...)
	return m
}

var (
	pxeBIOS = dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	pxeEFI  = []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
	}
	ipxe    = dhcpv4.WithUserClass("iPXE", false)
	ipxeRFC = dhcpv4.WithUserClass("iPXE", true)
	ipxe175 = dhcpv4.WithGeneric(dhcpv4.OptionEtherboot, []byte{0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e})
)

func TestDHCPReplies(t *testing.T) {
	tests := []struct {
		name     string
		req      *dhcpv4.DHCPv4
		wantType dhcpv4.MessageType // MessageTypeNone: no reply
		wantFile string
	}{
		{"discover plain", discover(t, knownMAC), dhcpv4.MessageTypeOffer, ""},
		{"discover pxe bios", discover(t, knownMAC, pxeBIOS), dhcpv4.MessageTypeOffer, "undionly.kpxe"},
		{"discover pxe efi", discover(t, knownMAC, pxeEFI...), dhcpv4.MessageTypeOffer, "ipxe.efi"},
		{"discover ipxe", discover(t, knownMAC, pxeBIOS, ipxe), dhcpv4.MessageTypeOffer, "http://10.99.0.1/boot.ipxe?mac=02:00:00:00:00:01"},
		{"discover ipxe rfc3004", discover(t, knownMAC, ipxeRFC), dhcpv4.MessageTypeOffer, "http://10.99.0.1/boot.ipxe?mac=02:00:00:00:00:01"},
		{"discover ipxe 175", discover(t, knownMAC, ipxe175), dhcpv4.MessageTypeOffer, "http://10.99.0.1/boot.ipxe?mac=02:00:00:00:00:01"},
		{"request", request(t, knownMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 10)))), dhcpv4.MessageTypeAck, ""},
		{"request ours", request(t, knownMAC,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 10))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1)))), dhcpv4.MessageTypeAck, ""},
		{"request renew", request(t, knownMAC, dhcpv4.WithClientIP(net.IPv4(10, 99, 0, 10))), dhcpv4.MessageTypeAck, ""},
		{"request wrong ip", request(t, knownMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 11)))), dhcpv4.MessageTypeNak, ""},
		{"request other server", request(t, knownMAC,
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 99, 0, 10))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 2)))), dhcpv4.MessageTypeNone, ""},
		{"unknown mac", discover(t, unknownMAC), dhcpv4.MessageTypeNone, ""},
		{"address outside subnet", discover(t, oddMAC), dhcpv4.MessageTypeNone, ""},
		{"release", discover(t, knownMAC, dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease)), dhcpv4.MessageTypeNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDHCP(t, io.Discard, nil)
			resp, err := d.handle(tt.req)
			if err != nil {
				t.Fatalf("handle = %v, want no error", err)
			}
			if tt.wantType == dhcpv4.MessageTypeNone {
				if resp != nil {
					t.Fatalf("handle = %v, want no reply", resp.Summary())
				}
				return
			}
			if resp == nil {
				t.Fatalf("handle = no reply, want %v", tt.wantType)
			}
			if got := resp.MessageType(); got != tt.wantType {
				t.Fatalf("reply type = %v, want %v", got, tt.wantType)
			}
			if !bytes.Equal(resp.ClientHWAddr, knownMAC) || resp.TransactionID != tt.req.TransactionID {
				t.Errorf("reply to %v xid %v, want %v xid %v", resp.ClientHWAddr, resp.TransactionID, knownMAC, tt.req.TransactionID)
			}
			if got := resp.ServerIdentifier(); !got.Equal(net.IPv4(10, 99, 0, 1)) {
				t.Errorf("server identifier = %v, want 10.99.0.1", got)
			}
			if tt.wantType == dhcpv4.MessageTypeNak {
				return
			}
			checks := []struct{ what, got, want string }{
				{"yiaddr", resp.YourIPAddr.String(), "10.99.0.10"},
				{"siaddr", resp.ServerIPAddr.String(), "10.99.0.1"},
				{"mask", net.IP(resp.SubnetMask()).String(), "255.255.255.0"},
				{"router", ipsString(resp.Router()), "10.99.0.1"},
				{"lease", resp.IPAddressLeaseTime(0).String(), "24h0m0s"},
				{"hostname", resp.HostName(), "n0"},
				{"master option", string(resp.Options.Get(dhcpv4.GenericOptionCode(OptionMaster))), "10.99.0.1:2223"},
				{"file", resp.BootFileName, tt.wantFile},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			wantNoProxy := strings.HasPrefix(tt.wantFile, "http://")
			if got := bytes.Equal(resp.Options.Get(dhcpv4.OptionEtherboot), []byte{176, 1, 1}); got != wantNoProxy {
				t.Errorf("iPXE no-pxedhcp option present = %v, want %v", got, wantNoProxy)
			}
			// What goes on the wire parses back.
			if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
				t.Errorf("reply does not parse: %v", err)
			}
		})
	}
}

func ipsString(ips []net.IP) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return strings.Join(s, ",")
}

func TestDHCPBadRequests(t *testing.T) {
	reply := discover(t, knownMAC)
	reply.OpCode = dhcpv4.OpcodeBootReply
	token := discover(t, knownMAC)
	token.HWType = iana.HWTypeIEEE802
	short := discover(t, knownMAC)
	short.ClientHWAddr = short.ClientHWAddr[:4]
	notype := discover(t, knownMAC)
	notype.Options.Del(dhcpv4.OptionDHCPMessageType)
	for name, req := range map[string]*dhcpv4.DHCPv4{
		"reply": reply, "ieee802": token, "short hwaddr": short, "no message type": notype,
	} {
		t.Run(name, func(t *testing.T) {
			d := testDHCP(t, io.Discard, nil)
			if resp, err := d.handle(req); err == nil || resp != nil {
				t.Errorf("handle = %v, %v; want an error and no reply", resp, err)
			}
		})
	}
}

// An unknown MAC is reported once per interval, however often it asks.
func TestDHCPUnknownOncePerMAC(t *testing.T) {
	var log bytes.Buffer
	var got []string
	d := testDHCP(t, &log, func(mac net.HardwareAddr) { got = append(got, mac.String()) })
	now := time.Unix(1000, 0)
	d.unknown.now = func() time.Time { return now }
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x98}
	for i := 0; i < 5; i++ {
		d.handle(discover(t, unknownMAC))
		d.handle(discover(t, other))
	}
	now = now.Add(2 * time.Minute)
	d.handle(discover(t, unknownMAC))
	want := []string{unknownMAC.String(), other.String(), unknownMAC.String()}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("OnUnknown calls = %v, want %v", got, want)
	}
	if n := strings.Count(log.String(), "unknown MAC"); n != 3 {
		t.Errorf("log has %d unknown-MAC lines, want 3:\n%s", n, log.String())
	}
}

func TestOnceEveryBounded(t *testing.T) {
	o := &onceEvery{interval: time.Hour, now: time.Now, last: map[string]time.Time{}}
	for i := 0; i < 3*maxKeys; i++ {
		o.allow(string(rune(i)))
	}
	if len(o.last) > maxKeys {
		t.Errorf("onceEvery holds %d keys, want at most %d", len(o.last), maxKeys)
	}
}

func TestAssignable(t *testing.T) {
	o := testOptions(t, io.Discard)
	for ip, want := range map[string]bool{
		"10.99.0.10": true, "10.99.0.254": true, "10.99.0.2": true,
		"10.99.0.1": false, "10.99.0.0": false, "10.99.0.255": false, "10.99.1.10": false,
		"::ffff:10.99.0.10": false, "fd00::10": false,
	} {
		if got := o.assignable(netip.MustParseAddr(ip)); got != want {
			t.Errorf("assignable(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestReplyAddr(t *testing.T) {
	bcast := "255.255.255.255:68"
	fresh := discover(t, knownMAC)
	renew := request(t, knownMAC, dhcpv4.WithClientIP(net.IPv4(10, 99, 0, 10)))
	relayed := discover(t, knownMAC, dhcpv4.WithGatewayIP(net.IPv4(10, 99, 1, 1)))
	ack, _ := dhcpv4.NewReplyFromRequest(renew, dhcpv4.WithMessageType(dhcpv4.MessageTypeAck))
	nak, _ := dhcpv4.NewReplyFromRequest(renew, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak))
	tests := []struct {
		name      string
		req, resp *dhcpv4.DHCPv4
		want      string
	}{
		{"no address yet", fresh, ack, bcast},
		{"renewing", renew, ack, "10.99.0.10:68"},
		{"nak", renew, nak, bcast},
		{"relayed", relayed, ack, "10.99.1.1:67"},
	}
	for _, tt := range tests {
		if got := replyAddr(tt.req, tt.resp).String(); got != tt.want {
			t.Errorf("%s: replyAddr = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// FuzzDHCPHandle feeds arbitrary packets through the parser and the
// handler: whatever arrives, no panic, and every reply encodes.
func FuzzDHCPHandle(f *testing.F) {
	for _, m := range []*dhcpv4.DHCPv4{
		discover(f, knownMAC), discover(f, knownMAC, pxeBIOS, ipxe), discover(f, knownMAC, pxeEFI...),
		discover(f, unknownMAC), request(f, knownMAC, dhcpv4.WithClientIP(net.IPv4(10, 99, 0, 10))),
		discover(f, knownMAC, ipxe175), discover(f, knownMAC, ipxeRFC),
	} {
		f.Add(m.ToBytes())
	}
	f.Add([]byte{})
	f.Add([]byte("\x01\x01\x06\x00garbage"))
	d := testDHCP(f, io.Discard, func(net.HardwareAddr) {})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := d.handle(req)
		if err != nil || resp == nil {
			return
		}
		if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
			t.Errorf("reply %v does not parse back: %v", resp.Summary(), err)
		}
		replyAddr(req, resp)
	})
}
