package config

import (
	"net/netip"
	"slices"
)

// checkNodes runs the node checks that need the whole file: a nodes
// line, an interface line or an address may come after the lines it
// constrains.
func (p *parser) checkNodes() {
	p.checkCount()
	p.checkMACsHaveAddrs()
	p.checkNetworks()
}

// checkCount keeps every numbered node below a nodes line's count,
// naming each offending line once.
func (p *parser) checkCount() {
	if p.count == 0 {
		return
	}
	reported := map[int]bool{}
	for _, r := range p.runs {
		if r.lastNode() >= p.count && !reported[r.line] {
			reported[r.line] = true
			p.errorAt(r.line, r.kw, "node %d is outside nodes %d (line %d)", max(r.node, p.count), p.count, p.countLine)
		}
	}
	for _, m := range p.macs {
		if m.node >= p.count {
			p.errorAt(m.line, "node", "node %d is outside nodes %d (line %d)", m.node, p.count, p.countLine)
		}
	}
}

// checkMACsHaveAddrs refuses a MAC for a node without an address: the
// only use of a MAC is to answer its DHCP request with the address.
func (p *parser) checkMACsHaveAddrs() {
	for _, m := range p.macs {
		has := false
		for _, r := range p.runs {
			has = has || (r.node <= m.node && m.node <= r.lastNode())
		}
		if !has {
			p.errorAt(m.line, "node", "node %d has no IP address (give it one with ip or iprange)", m.node)
		}
	}
}

// checkNetworks keeps node addresses inside the network of an interface
// line that gives one, and off its network, broadcast and own address:
// nodes boot by DHCP, which does not cross a router.
func (p *parser) checkNetworks() {
	var nets []Interface
	for _, l := range p.ifLines {
		if l.ifc.Addr.IsValid() {
			nets = append(nets, l.ifc)
		}
	}
	if len(nets) == 0 {
		return
	}
	reported := map[int]bool{}
	for _, r := range p.runs {
		if reported[r.line] {
			continue
		}
		if msg := netProblem(r, nets); msg != "" {
			reported[r.line] = true
			p.errorAt(r.line, r.kw, "%s", msg)
		}
	}
}

func netProblem(r addrRun, nets []Interface) string {
	outside := func(a uint32) string {
		if len(nets) == 1 {
			return fromU32(a).String() + " is outside interface " + nets[0].Name + "'s network " + nets[0].Addr.Masked().String()
		}
		return fromU32(a).String() + " is outside the networks of the interfaces"
	}
	var in *Interface
	for i := range nets {
		if nets[i].Addr.Masked().Contains(fromU32(r.first)) {
			in = &nets[i]
			break
		}
	}
	if in == nil {
		return outside(r.first)
	}
	pfx := in.Addr.Masked()
	network, bcast := toU32(pfx.Addr()), toU32(lastAddr(pfx))
	own := toU32(in.Addr.Addr())
	switch {
	case r.last > bcast:
		return outside(bcast + 1)
	case r.first == network:
		return fromU32(network).String() + " is the network address of interface " + in.Name
	case r.last == bcast:
		return fromU32(bcast).String() + " is the broadcast address of interface " + in.Name
	case r.first <= own && own <= r.last:
		return fromU32(own).String() + " is interface " + in.Name + "'s own address"
	}
	return ""
}

// buildTable turns the checked lines into the node table. It runs only on
// a file without errors so far: bootfile specs resolved against a table
// missing its bad lines would add complaints that are not the real
// problem.
func (p *parser) buildTable() {
	var nums []int
	for _, r := range p.runs {
		for n := r.node; n <= r.lastNode(); n++ {
			nums = append(nums, n)
		}
	}
	for _, m := range p.macs {
		nums = append(nums, m.node)
	}
	for n := range p.count {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	list := make([]Node, len(nums))
	for i, n := range nums {
		list[i].Num = n
	}
	// Two passes over the runs, counting then filling, put every address
	// in one array: a 65536-node iprange is then three allocations, not
	// 65536.
	count := make([]int, len(nums))
	total := 0
	p.eachAddr(nums, func(i int, _ uint32) { count[i]++; total++ })
	all := make([]netip.Addr, total)
	off := 0
	for i, c := range count {
		if c > 0 {
			list[i].Addrs = all[off : off : off+c]
			off += c
		}
	}
	p.eachAddr(nums, func(i int, a uint32) { list[i].Addrs = append(list[i].Addrs, fromU32(a)) })
	for _, m := range p.macs {
		i, _ := slices.BinarySearch(nums, m.node)
		list[i].MACs = m.macs
	}
	for i := range list {
		list[i].BootFile = p.cfg.BootFile
	}
	t := newTable(list, p.runs)
	if p.resolveBoots(&t) {
		p.cfg.nodes = t
	}
}

// eachAddr calls f with the index in nums of the node of each address of
// each run, in file order.
func (p *parser) eachAddr(nums []int, f func(i int, a uint32)) {
	for _, r := range p.runs {
		// Numbers are dense within a run, so its nodes sit side by side.
		i, _ := slices.BinarySearch(nums, r.node)
		for a := r.first; ; a++ {
			f(i+r.nodeOf(a)-r.node, a)
			if a == r.last {
				break
			}
		}
	}
}
