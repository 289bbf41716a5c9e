package netboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// raGap is the least time between two advertisements. They go to all
// nodes (ff02::1), so one answers every node that solicited during the
// gap, and a flood of solicitations makes at most one per gap.
const raGap = 200 * time.Millisecond

// ff02::1 and ff02::2, written out: net.ParseIP here would run at every
// start of the binary, bpsh's too.
var (
	allNodes   = net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}
	allRouters = net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02}
)

// raResponder answers router solicitations on one interface.
type raResponder struct {
	ifi  *net.Interface
	conn net.PacketConn
	pc   *ipv6.PacketConn
	log  *slog.Logger
	ra   []byte
	kick chan struct{} // capacity 1: an advertisement is due
}

// listenRA opens a raw ICMPv6 socket bound to the interface that sees
// router solicitations only.
func listenRA(o *Options) (*raResponder, error) {
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("ra: interface %s: %w", o.Interface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifi.Name) }); err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(context.Background(), "ip6:58", "::")
	if err != nil {
		return nil, fmt.Errorf("ra: listen for icmpv6 on %s: %w", ifi.Name, err)
	}
	pc := ipv6.NewPacketConn(conn)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	steps := []struct {
		what string
		do   func() error
	}{
		{"icmp filter", func() error { return pc.SetICMPFilter(&f) }},
		// The hop limit must be seen: 255 proves the sender is on the link.
		{"control messages", func() error { return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true) }},
		// Solicitations go to all-routers, which a host that does not
		// forward has not joined.
		{"join ff02::2", func() error { return pc.JoinGroup(ifi, &net.IPAddr{IP: allRouters}) }},
		{"multicast interface", func() error { return pc.SetMulticastInterface(ifi) }},
		// Receivers drop neighbor discovery with any other hop limit.
		{"multicast hop limit", func() error { return pc.SetMulticastHopLimit(255) }},
		{"hop limit", func() error { return pc.SetHopLimit(255) }},
		{"multicast loopback", func() error { return pc.SetMulticastLoopback(false) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("ra: %s on %s: %w", s.what, ifi.Name, err)
		}
	}
	return &raResponder{
		ifi:  ifi,
		conn: conn,
		pc:   pc,
		log:  o.Logger,
		ra:   buildRA(ifi.HardwareAddr),
		kick: make(chan struct{}, 1),
	}, nil
}

func (r *raResponder) close() error { return r.conn.Close() }

// due asks for an advertisement; several requests before it is sent
// make one.
func (r *raResponder) due() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// serve reads solicitations until the socket is closed.
func (r *raResponder) serve() error {
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ra: read on %s: %w", r.ifi.Name, err)
		}
		var from netip.Addr
		if ia, ok := src.(*net.IPAddr); ok {
			from, _ = netip.AddrFromSlice(ia.IP)
		}
		if cm != nil && cm.IfIndex != 0 && cm.IfIndex != r.ifi.Index {
			continue // bound to the device; only a race at bind time
		}
		if cm != nil && cm.HopLimit != 255 {
			r.log.Warn("ra: bad router solicitation", "ip", from, "err", fmt.Sprintf("hop limit %d, want 255", cm.HopLimit))
			continue
		}
		lladdr, err := parseRS(buf[:n], from)
		if err != nil {
			r.log.Warn("ra: bad router solicitation", "ip", from, "err", err)
			continue
		}
		r.log.Info("ra: router solicitation", "ip", from, "mac", lladdr.String())
		r.due()
	}
}

// advertise sends an advertisement when one is due, at most one per
// raGap, until ctx is done.
func (r *raResponder) advertise(ctx context.Context) {
	// The interface goes by index in the control message: a zone name
	// would be looked up again on every send.
	dst := &net.IPAddr{IP: allNodes}
	cm := &ipv6.ControlMessage{IfIndex: r.ifi.Index, HopLimit: 255}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		if _, err := r.pc.WriteTo(r.ra, cm, dst); err != nil {
			// Typically at start: the link has no carrier yet (a bridge
			// before its first tap), its link-local address is still
			// tentative, or IPv6 is off on it. The next solicitation
			// tries again.
			r.log.Debug("ra: send router advertisement", "interface", r.ifi.Name, "err", err)
		} else {
			r.log.Info("ra: sent router advertisement", "interface", r.ifi.Name)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(raGap):
		}
	}
}
