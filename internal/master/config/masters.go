package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// masterLine is one address of a master line. Its port waits for the
// end of the file, where bprocport (which may come later) is known.
type masterLine struct {
	line int
	host string
	port int // 0: bprocport
}

// parseMaster takes BProc's "master HOST[:PORT]...". Names are not
// resolved here: a config must parse the same with the DNS down, and
// nodes resolve at dial time anyway.
func parseMaster(p *parser, args []string) {
	for _, s := range args {
		host, port, ok := splitHostPort(s)
		if !ok {
			p.errorf("%q is not HOST or HOST:PORT", s)
			continue
		}
		if port < 0 {
			p.errorf("%q: port is not a port number (1-65535)", s)
			continue
		}
		p.masters = append(p.masters, masterLine{p.line, host, port})
	}
}

// splitHostPort parses "host", "host:port", "[v6]:port" or a bare IPv6
// address. port is 0 when absent and -1 when bad.
func splitHostPort(s string) (host string, port int, ok bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), 0, true
	}
	h, ps, err := net.SplitHostPort(s)
	if err != nil {
		if strings.ContainsAny(s, ":[]") {
			return "", 0, false
		}
		h = s
	} else if n, ok := parseUint(ps, 65535); ok && n > 0 {
		port = n
	} else {
		port = -1
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String(), port, true
	}
	if strings.HasPrefix(s, "[") || !validHostname(h) {
		return "", 0, false
	}
	return strings.ToLower(h), port, true
}

// validHostname is RFC 1123's syntax: dot-separated labels of letters,
// digits and inner hyphens.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// finishMasters gives portless masters bprocport and refuses an address
// given twice, as BProc did.
func (p *parser) finishMasters() {
	seen := map[string]int{}
	for _, m := range p.masters {
		port := m.port
		if port == 0 {
			port = p.cfg.Port
		}
		hp := net.JoinHostPort(m.host, strconv.Itoa(port))
		if l, dup := seen[hp]; dup {
			p.errorAt(m.line, "master", "%s given twice (first on line %d)", hp, l)
			continue
		}
		seen[hp] = m.line
		p.cfg.Masters = append(p.cfg.Masters, hp)
	}
}
