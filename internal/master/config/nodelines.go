package config

import (
	"net"
	"slices"
	"strings"
)

// nodeLines is what the lines that define nodes have said, kept by line
// so that checks of the whole file can name the line at fault.
type nodeLines struct {
	ifLines []ifLine
	runs    []addrRun
	ipNext  int // node of an ip or iprange line without a number
	macs    []macLine
	macSeen map[string]macRef
	macNext int // node of a node line without a number, counted apart
	// from ipNext because configs list MACs in a block of their own,
	// after the iprange that numbered the same nodes
	count     int // nodes COUNT, 0 if not given
	countLine int
	boots     []bootLine
	bootLine  int // line of the default bootfile, 0 if none
}

type ifLine struct {
	line int
	ifc  Interface
}

// addrRun is one ip address or one iprange line: addresses first to
// last, all to node (ip), or one to each node from node on (iprange).
type addrRun struct {
	line        int
	kw          string
	node        int
	first, last uint32
	spread      bool
}

func (r addrRun) lastNode() int {
	if r.spread {
		return r.node + int(r.last-r.first)
	}
	return r.node
}

func (r addrRun) nodeOf(a uint32) int {
	if r.spread {
		return r.node + int(a-r.first)
	}
	return r.node
}

type macLine struct {
	line int
	node int
	macs []net.HardwareAddr
}

type macRef struct{ node, line int }

type bootLine struct {
	line       int
	spec, file string
}

func parseIP(p *parser, args []string) {
	node, args, ok := p.leadingNode(args, p.ipNext)
	if !ok {
		return
	}
	if len(args) == 0 {
		p.errorf("node %d given no address", node)
		return
	}
	p.ipNext = node + 1
	good := p.nodesFree(node, node)
	var addrs []uint32
	for _, s := range args {
		a, ok := p.nodeAddr(s)
		if !ok {
			good = false
			continue
		}
		u := toU32(a)
		if slices.Contains(addrs, u) {
			p.errorf("%s given twice", a)
			good = false
			continue
		}
		if !p.addrsFree(u, u) {
			good = false
		}
		addrs = append(addrs, u)
	}
	if !good {
		return
	}
	for _, u := range addrs {
		p.runs = append(p.runs, addrRun{line: p.line, kw: p.kw, node: node, first: u, last: u})
	}
}

func parseIPRange(p *parser, args []string) {
	var node int
	var ok bool
	if len(args) == 3 {
		if node, ok = p.nodeNum(args[0]); !ok {
			return
		}
		args = args[1:]
	} else if node, ok = p.next(p.ipNext); !ok {
		return
	}
	first, ok1 := p.ipv4(args[0])
	last, ok2 := p.ipv4(args[1])
	if !ok1 || !ok2 {
		return
	}
	f, l := toU32(first), toU32(last)
	if f > l {
		p.errorf("first address %s is after last address %s", first, last)
		return
	}
	count := int64(l-f) + 1
	if int64(node)+count-1 > MaxNode {
		p.errorf("%d addresses from node %d go past node %d", count, node, MaxNode)
		return
	}
	p.ipNext = node + int(count)
	if a, bad := unusableIn(f, l); bad {
		p.errorf("%s cannot be a node's address", fromU32(a))
		return
	}
	good := p.nodesFree(node, node+int(count)-1)
	if p.addrsFree(f, l) && good {
		p.runs = append(p.runs, addrRun{line: p.line, kw: p.kw, node: node, first: f, last: l, spread: true})
	}
}

func parseNode(p *parser, args []string) {
	node, args, ok := p.leadingNode(args, p.macNext)
	if !ok {
		return
	}
	if len(args) == 0 {
		p.errorf("node %d given no MAC address", node)
		return
	}
	p.macNext = node + 1
	good := true
	for _, m := range p.macs {
		if m.node == node {
			p.errorf("node %d already has MAC addresses (line %d)", node, m.line)
			good = false
			break
		}
	}
	if p.macSeen == nil {
		p.macSeen = map[string]macRef{}
	}
	var macs []net.HardwareAddr
	for _, s := range args {
		mac, err := net.ParseMAC(s)
		if err != nil {
			p.errorf("%q is not a MAC address", s)
			good = false
			continue
		}
		if !usableMAC(mac) {
			p.errorf("%s cannot be a node's MAC address", mac)
			good = false
			continue
		}
		if ref, dup := p.macSeen[mac.String()]; dup {
			if ref.line == p.line {
				p.errorf("%s given twice", mac)
			} else {
				p.errorf("%s is already node %d's MAC address (line %d)", mac, ref.node, ref.line)
			}
			good = false
			continue
		}
		p.macSeen[mac.String()] = macRef{node, p.line}
		macs = append(macs, mac)
	}
	if good {
		p.macs = append(p.macs, macLine{p.line, node, macs})
	}
}

// usableMAC refuses the all-zero address and, for Ethernet's 6 and
// EUI-64's 8 bytes, group addresses: a NIC never has them, a typo might.
func usableMAC(mac net.HardwareAddr) bool {
	zero := true
	for _, b := range mac {
		zero = zero && b == 0
	}
	if zero {
		return false
	}
	return !(len(mac) <= 8 && mac[0]&1 != 0)
}

func parseNodes(p *parser, args []string) {
	n, ok := parseUint(args[0], MaxNode+1)
	if !ok || n == 0 {
		p.errorf("%q is not a node count from 1 to %d", args[0], MaxNode+1)
		return
	}
	p.count, p.countLine = n, p.line
}

func parseBootFile(p *parser, args []string) {
	var file string
	if !p.path(args[len(args)-1], &file) {
		return
	}
	if len(args) == 2 {
		p.boots = append(p.boots, bootLine{p.line, args[0], file})
		return
	}
	if p.bootLine != 0 {
		p.errorf("default boot file given again (first on line %d)", p.bootLine)
		return
	}
	p.bootLine = p.line
	p.cfg.BootFile = file
}

// leadingNode takes the optional node number that starts an ip or node
// line; without one the line is for the node after the previous line's.
// A number is told from an address by having no dots or colons, as BProc
// told them apart by whether strtol took the whole argument.
func (p *parser) leadingNode(args []string, next int) (int, []string, bool) {
	if isNumeric(args[0]) {
		n, ok := p.nodeNum(args[0])
		return n, args[1:], ok
	}
	n, ok := p.next(next)
	return n, args, ok
}

func (p *parser) next(n int) (int, bool) {
	if n > MaxNode {
		p.errorf("next node number %d is out of range 0-%d", n, MaxNode)
		return 0, false
	}
	return n, true
}

func (p *parser) nodeNum(s string) (int, bool) {
	if !isNumeric(s) {
		p.errorf("%q is not a node number", s)
		return 0, false
	}
	n, ok := parseUint(s, MaxNode)
	if !ok {
		p.errorf("node number %s is out of range 0-%d", s, MaxNode)
	}
	return n, ok
}

// isNumeric is true for what is meant as a number, right or wrong:
// digits, perhaps after a minus sign.
func isNumeric(s string) bool {
	return isDigits(strings.TrimPrefix(s, "-"))
}

// nodesFree reports whether no earlier ip or iprange line gave an
// address to a node from lo to hi.
func (p *parser) nodesFree(lo, hi int) bool {
	for _, r := range p.runs {
		if r.node <= hi && lo <= r.lastNode() {
			p.errorf("node %d already has an address (line %d)", max(lo, r.node), r.line)
			return false
		}
	}
	return true
}

// addrsFree reports whether no earlier line gave away an address from
// first to last.
func (p *parser) addrsFree(first, last uint32) bool {
	for _, r := range p.runs {
		if r.first <= last && first <= r.last {
			a := max(first, r.first)
			p.errorf("%s is already node %d's address (line %d)", fromU32(a), r.nodeOf(a), r.line)
			return false
		}
	}
	return true
}
