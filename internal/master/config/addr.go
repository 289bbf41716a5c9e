package config

import (
	"encoding/binary"
	"net/netip"
)

// ipv4 parses a dotted-quad IPv4 address; netip refuses the octal and
// short forms ("010.0.0.1", "10.1") that inet_aton took.
func (p *parser) ipv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		p.errorf("%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	return a, true
}

// nodeAddr parses an address a node can have.
func (p *parser) nodeAddr(s string) (netip.Addr, bool) {
	a, ok := p.ipv4(s)
	if ok && !usableAddr(a) {
		p.errorf("%s cannot be a node's address", a)
		return netip.Addr{}, false
	}
	return a, ok
}

const (
	multicastFirst = 224 << 24
	multicastLast  = 240<<24 - 1
)

// unusableIn returns the lowest address from first to last that no node
// can have: 0.0.0.0, multicast, the limited broadcast.
func unusableIn(first, last uint32) (uint32, bool) {
	switch {
	case first == 0:
		return 0, true
	case first <= multicastLast && last >= multicastFirst:
		return max(first, multicastFirst), true
	case last == 1<<32-1:
		return last, true
	}
	return 0, false
}

func usableAddr(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	_, bad := unusableIn(toU32(a), toU32(a))
	return !bad
}

func toU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func fromU32(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(pfx netip.Prefix) netip.Addr {
	return fromU32(toU32(pfx.Masked().Addr()) | (1<<(32-pfx.Bits()) - 1))
}
