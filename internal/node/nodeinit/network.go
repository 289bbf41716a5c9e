package nodeinit

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// Lease is the address the node took and who gave it.
type Lease struct {
	Interface string
	Addr      string
	Server    net.IP // the DHCP server: the master, when the command line does not say
}

// Network brings up the interface with hardware address mac (any
// Ethernet interface when mac is nil), takes a DHCP lease on it and
// configures it.
func Network(ctx context.Context, mac net.HardwareAddr) (Lease, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return Lease{}, fmt.Errorf("network: list links: %w", err)
	}
	var ifs []netlink.Link
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" || len(a.HardwareAddr) != 6 {
			continue
		}
		if mac == nil || a.HardwareAddr.String() == mac.String() {
			ifs = append(ifs, l)
		}
	}
	if len(ifs) == 0 {
		which := "any"
		if mac != nil {
			which = mac.String()
		}
		return Lease{}, fmt.Errorf("network: no Ethernet interface (wanted: %s); is the NIC's module loaded?", which)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	results := dhclient.SendRequests(ctx, ifs, true, false, dhclient.Config{Timeout: 5 * time.Second, Retries: 3}, 30*time.Second)
	var last error
	for r := range results {
		if r.Err != nil {
			last = r.Err
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			last = err
			continue
		}
		l := Lease{Interface: r.Interface.Attrs().Name, Addr: r.Lease.String()}
		if p, ok := r.Lease.(*dhclient.Packet4); ok {
			l.Server = p.P.ServerIPAddr
			if id := p.P.ServerIdentifier(); id != nil {
				l.Server = id
			}
		}
		return l, nil
	}
	if last == nil {
		last = ctx.Err()
	}
	return Lease{}, fmt.Errorf("network: no DHCP lease: %w", last)
}
