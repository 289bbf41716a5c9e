package testvm

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The cluster's addresses: a /24 that only exists inside the namespace.
var (
	masterAddr = netip.MustParsePrefix("10.99.0.1/24")
	firstNode  = netip.MustParseAddr("10.99.0.10")
)

// MaxNodes keeps node addresses inside the /24 (10.99.0.10 and up) and
// MACs in one byte.
const MaxNodes = 200

// NodeMAC is node n's MAC: QEMU's prefix 52:54:00, then 99:00:n.
func NodeMAC(n int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, 0x99, 0x00, byte(n)}
}

// StrangerMAC is a MAC in no node line (99:ff:n): such a VM must get no
// lease.
func StrangerMAC(n int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, 0x99, 0xff, byte(n)}
}

// bridgeMAC is the bridge's fixed address, outside both ranges above.
var bridgeMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x99, 0xfe, 0x01}

// NodeAddr is node n's address (the config's iprange).
func NodeAddr(n int) netip.Addr {
	a := firstNode
	for range n {
		a = a.Next()
	}
	return a
}

// MasterConfig is what bpmaster reads: the cluster interface with its
// address (so the boot services run there), addresses and MACs of the
// nodes, and the kernel with the NIC modules for the node image.
type MasterConfig struct {
	Interface   string
	Nodes       int
	Spare       int // addresses beyond Nodes, for nodes added later
	Kernel      string
	Modules     []string
	Cmdline     string // kernelcommandline; empty for none
	PingTimeout int    // seconds; 0 for bpmaster's default
}

// Text is the configuration file.
func (c MasterConfig) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# A QEMU test cluster, written by testvm (make cluster); rewritten on every start.\n")
	mask := net.CIDRMask(masterAddr.Bits(), 32)
	fmt.Fprintf(&b, "interface %s %s %d.%d.%d.%d\n", c.Interface, masterAddr.Addr(), mask[0], mask[1], mask[2], mask[3])
	fmt.Fprintf(&b, "iprange 0 %s %s\n", NodeAddr(0), NodeAddr(c.Nodes+c.Spare-1))
	for n := range c.Nodes {
		fmt.Fprintf(&b, "node %d %s\n", n, NodeMAC(n))
	}
	fmt.Fprintf(&b, "kernel %s\n", c.Kernel)
	if len(c.Modules) > 0 {
		fmt.Fprintf(&b, "modules %s\n", strings.Join(c.Modules, " "))
	}
	if c.Cmdline != "" {
		fmt.Fprintf(&b, "kernelcommandline %s\n", c.Cmdline)
	}
	if c.PingTimeout > 0 {
		fmt.Fprintf(&b, "pingtimeout %d\n", c.PingTimeout)
	}
	return b.String()
}
