package netboot

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"
)

// dhcpServer answers DHCPv4 on one interface, for known MACs only.
//
// It does not use server4.Server's loop: that one handles every packet in
// a goroutine of its own that Close does not wait for, and logs through
// its own logger. Packets are handled one at a time here: an answer is a
// map lookup and one write.
type dhcpServer struct {
	o       *Options
	conn    net.PacketConn
	log     *slog.Logger
	unknown *onceEvery // MACs reported as unknown or misconfigured
	leases  *leaseTable
}

// listenDHCP opens port 67 on the interface. The socket is bound to
// 0.0.0.0, because clients without an address broadcast, and to the
// device, so that other networks of the master are never answered.
func listenDHCP(o *Options) (net.PacketConn, error) {
	conn, err := server4.NewIPv4UDPConn(o.Interface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on %s port %d: %w", o.Interface, dhcpv4.ServerPort, err)
	}
	return conn, nil
}

// serve reads until the connection is closed.
func (d *dhcpServer) serve() error {
	buf := make([]byte, 4096) // larger than any DHCP packet on Ethernet
	for {
		n, peer, err := d.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("dhcp: read on %s: %w", d.o.Interface, err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			d.log.Warn("dhcp: bad packet", "from", peer, "len", n, "err", err)
			continue
		}
		resp, err := d.handle(req)
		if err != nil {
			d.log.Warn("dhcp: bad request", "from", peer, "mac", req.ClientHWAddr.String(), "err", err)
			continue
		}
		if resp == nil {
			continue
		}
		to := replyAddr(req, resp)
		if _, err := d.conn.WriteTo(resp.ToBytes(), to); err != nil {
			d.log.Warn("dhcp: send reply", "to", to, "mac", req.ClientHWAddr.String(), "err", err)
		}
	}
}

// replyAddr is where a reply goes (RFC 2131 section 4.1). A client without
// an address gets a broadcast, since it cannot answer ARP for the address
// it is being offered.
func replyAddr(req, resp *dhcpv4.DHCPv4) *net.UDPAddr {
	switch {
	case isSet(req.GatewayIPAddr):
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	case resp.MessageType() == dhcpv4.MessageTypeNak:
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	case isSet(req.ClientIPAddr):
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}

func isSet(ip net.IP) bool { return ip != nil && !ip.IsUnspecified() }

// handle returns the reply to req, nil for no reply, or an error for a
// request that is malformed. It logs what it answers.
func (d *dhcpServer) handle(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, fmt.Errorf("opcode %v, want a request", req.OpCode)
	}
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, fmt.Errorf("hardware type %v, address length %d: want Ethernet", req.HWType, len(req.ClientHWAddr))
	}
	// net.HardwareAddr is logged with String: slog would print the bytes.
	mac := req.ClientHWAddr
	mt := req.MessageType()
	switch mt {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest:
	case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeInform:
		// Addresses are fixed per MAC: nothing to free or to mark bad.
		d.log.Info("dhcp: "+mt.String(), "mac", mac.String(), "ip", req.ClientIPAddr)
		return nil, nil
	default:
		return nil, fmt.Errorf("message type %v", mt)
	}

	ip, node, ok := d.o.Lookup(mac)
	if !ok {
		if d.unknown.allow("unknown " + mac.String()) {
			d.log.Info("dhcp: unknown MAC, not answered", "mac", mac.String(), "type", mt)
			if d.o.OnUnknown != nil {
				d.o.OnUnknown(mac)
			}
		}
		return nil, nil
	}
	// An address built from a 16-byte net.IP is IPv4-mapped IPv6.
	ip = ip.Unmap()
	if !d.o.assignable(ip) {
		if d.unknown.allow("bad " + mac.String()) {
			d.log.Error("dhcp: node address not usable on this interface, not answered",
				"node", node, "mac", mac.String(), "ip", ip, "subnet", d.o.Addr.Masked())
		}
		return nil, nil
	}

	server := net.IP(d.o.Addr.Addr().AsSlice())
	reply := dhcpv4.MessageTypeOffer
	if mt == dhcpv4.MessageTypeRequest {
		// A client that chose another server's offer is not ours to
		// answer; one that wants an address other than its own is told
		// no, so it starts over instead of using a wrong one.
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(server) {
			return nil, nil
		}
		want := req.RequestedIPAddress()
		if want == nil {
			want = req.ClientIPAddr
		}
		if isSet(want) && !want.Equal(net.IP(ip.AsSlice())) {
			d.log.Info("dhcp: NAK", "node", node, "mac", mac.String(), "requested", want, "ip", ip)
			return dhcpv4.NewReplyFromRequest(req,
				dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)))
		}
		reply = dhcpv4.MessageTypeAck
	}

	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(reply),
		dhcpv4.WithYourIP(net.IP(ip.AsSlice())),
		dhcpv4.WithServerIP(server), // siaddr: PXE's next-server
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)),
		dhcpv4.WithNetmask(net.CIDRMask(d.o.Addr.Bits(), 32)),
		dhcpv4.WithRouter(server),
		dhcpv4.WithLeaseTime(uint32(d.o.LeaseTime / time.Second)),
		dhcpv4.WithOption(dhcpv4.OptHostName(fmt.Sprintf("n%d", node))),
		dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(OptionMaster), []byte(d.o.master().String())),
	}
	if isIPXE(req) {
		// iPXE waits about 3 s after an offer for ProxyDHCP offers unless
		// the offer says there are none: option 175 (iPXE's
		// encapsulated options), 176 "no-pxedhcp" = 1.
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionEtherboot, []byte{176, 1, 1}))
	}
	file := d.bootFile(req)
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("build %v: %w", reply, err)
	}
	resp.BootFileName = file
	if reply == dhcpv4.MessageTypeAck {
		d.leases.set(ip, mac)
	}
	d.log.Info("dhcp: "+reply.String(), "node", node, "mac", mac.String(), "ip", ip, "file", file)
	return resp, nil
}

// assignable reports whether ip can be a node's address: in the subnet,
// and neither the master's nor the subnet's network or broadcast address.
func (o *Options) assignable(ip netip.Addr) bool {
	subnet := o.Addr.Masked()
	if !ip.Is4() || !subnet.Contains(ip) || ip == o.Addr.Addr() || ip == subnet.Addr() {
		return false
	}
	bcast := subnet.Addr().As4()
	mask := net.CIDRMask(subnet.Bits(), 32)
	for i := range bcast {
		bcast[i] |= ^mask[i]
	}
	return ip != netip.AddrFrom4(bcast)
}

// bootFile is the file field of the reply: the script URL for iPXE, an
// iPXE binary over TFTP for a plain PXE ROM, nothing for anything else
// (the node's own init taking its lease).
func (d *dhcpServer) bootFile(req *dhcpv4.DHCPv4) string {
	if isIPXE(req) {
		return d.o.bootScriptURL(req.ClientHWAddr)
	}
	if !bytes.HasPrefix(req.Options.Get(dhcpv4.OptionClassIdentifier), []byte("PXEClient")) {
		return ""
	}
	arch := iana.INTEL_X86PC
	if archs := req.ClientArch(); len(archs) > 0 {
		arch = archs[0]
	}
	switch arch {
	case iana.INTEL_X86PC:
		return d.o.BIOSBootFile
	case iana.EFI_X86_64, iana.EFI_BC: // 7 and 9: both x86-64 UEFI in practice
		return d.o.EFIBootFile
	}
	return ""
}

// isIPXE reports whether the client is iPXE: it sends user class "iPXE"
// (option 77, as a plain string rather than RFC 3004's length-prefixed
// list) and its own encapsulated options (175).
func isIPXE(req *dhcpv4.DHCPv4) bool {
	if req.Options.Has(dhcpv4.OptionEtherboot) {
		return true
	}
	uc := req.Options.Get(dhcpv4.OptionUserClassInformation)
	if string(uc) == "iPXE" {
		return true
	}
	for _, c := range req.UserClass() {
		if c == "iPXE" {
			return true
		}
	}
	return false
}

// onceEvery says yes to a key at most once per interval, so that a node
// retrying DISCOVER every few seconds is reported once, not per packet.
type onceEvery struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

// maxKeys bounds the memory a flood of made-up MACs can take.
const maxKeys = 4096

func (o *onceEvery) allow(key string) bool {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.last[key]; ok && now.Sub(t) < o.interval {
		return false
	}
	if len(o.last) >= maxKeys {
		for k, t := range o.last {
			if now.Sub(t) >= o.interval {
				delete(o.last, k)
			}
		}
		if len(o.last) >= maxKeys {
			clear(o.last)
		}
	}
	o.last[key] = now
	return true
}

// leaseTable remembers which MAC was given which address, so TFTP and
// HTTP requests, which only show an IP, are logged with the MAC too.
type leaseTable struct {
	mu sync.Mutex // guards m
	m  map[netip.Addr]string
}

func (l *leaseTable) set(ip netip.Addr, mac net.HardwareAddr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[ip] = mac.String()
}

func (l *leaseTable) mac(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[ip.Unmap()]
}
