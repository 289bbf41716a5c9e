package config

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
)

// Node is one node of the config's node table.
type Node struct {
	Num int
	// Addrs come from ip and iprange lines, in file order. The first is
	// the one DHCP hands out; a node may connect from any of them.
	Addrs []netip.Addr
	MACs  []net.HardwareAddr // from its node line
	// BootFile is what it boots: its bootfile line's file, else
	// Config.BootFile ("" for the image the master builds).
	BootFile string
}

// Addr is the node's first address, or the zero Addr if it has none
// (nodes named only by a nodes line, such as namespace nodes).
func (n Node) Addr() netip.Addr {
	if len(n.Addrs) == 0 {
		return netip.Addr{}
	}
	return n.Addrs[0]
}

// clone copies n deeply, so that callers of Nodes and Node cannot change
// the table behind a running master's back.
func (n Node) clone() Node {
	n.Addrs = slices.Clone(n.Addrs)
	if n.MACs != nil {
		macs := make([]net.HardwareAddr, len(n.MACs))
		for i, m := range n.MACs {
			macs[i] = slices.Clone(m)
		}
		n.MACs = macs
	}
	return n
}

// table is the node table, indexed for the lookups the master makes on
// every connection and every DHCP request.
type table struct {
	list  []Node         // ascending by Num, found by binary search
	byMAC map[string]int // net.HardwareAddr.String() -> node number
	// runs are the address lines, disjoint, sorted by address and found by
	// binary search: a 65536-node iprange is one entry, not 65536.
	runs []addrRun
}

// Nodes returns the node table, ascending by node number.
func (c *Config) Nodes() []Node {
	out := make([]Node, len(c.nodes.list))
	for i, n := range c.nodes.list {
		out[i] = n.clone()
	}
	return out
}

// NumNodes is how many nodes the config defines. Numbers may be sparse,
// so the highest is not NumNodes()-1.
func (c *Config) NumNodes() int { return len(c.nodes.list) }

// Node returns the node numbered num, if the config defines it.
func (c *Config) Node(num int) (Node, bool) {
	i, ok := slices.BinarySearchFunc(c.nodes.list, num, func(n Node, num int) int { return cmp.Compare(n.Num, num) })
	if !ok {
		return Node{}, false
	}
	return c.nodes.list[i].clone(), true
}

// NodeByMAC returns the number of the node with hardware address mac.
func (c *Config) NodeByMAC(mac net.HardwareAddr) (int, bool) {
	n, ok := c.nodes.byMAC[mac.String()]
	return n, ok
}

// NodeByAddr returns the number of the node with address addr. An
// IPv4-mapped IPv6 address, as a dual-stack listener reports a peer,
// finds the node of the IPv4 address.
func (c *Config) NodeByAddr(addr netip.Addr) (int, bool) {
	addr = addr.Unmap()
	if !addr.Is4() {
		return 0, false
	}
	return c.nodes.nodeByAddr(toU32(addr))
}

func (t *table) nodeByAddr(a uint32) (int, bool) {
	i, _ := slices.BinarySearchFunc(t.runs, a, func(r addrRun, a uint32) int { return cmp.Compare(r.last, a) })
	if i < len(t.runs) && t.runs[i].first <= a {
		return t.runs[i].nodeOf(a), true
	}
	return 0, false
}

// newTable indexes nodes, which are sorted and have distinct numbers,
// and runs, the address lines they were built from (the parser has
// checked that no address or MAC is given twice).
func newTable(nodes []Node, runs []addrRun) table {
	t := table{
		list:  nodes,
		byMAC: make(map[string]int),
		runs:  slices.SortedFunc(slices.Values(runs), func(a, b addrRun) int { return cmp.Compare(a.first, b.first) }),
	}
	for _, n := range nodes {
		for _, m := range n.MACs {
			t.byMAC[m.String()] = n.Num
		}
	}
	return t
}
