package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// metrics ADDR: where bpmaster serves /metrics in Prometheus's text
// format. No line: nowhere. The address is bound as written, never
// resolved: a name could resolve to more than the administrator meant.
func addMetrics(kw map[string]keyword) {
	kw["metrics"] = keyword{"metrics ADDR", 1, 1, true, parseMetrics}
}

func parseMetrics(p *parser, args []string) {
	if err := CheckMetricsAddr(args[0]); err != nil {
		p.errorf("%v", err)
		return
	}
	p.cfg.Metrics = args[0]
}

// CheckMetricsAddr accepts IP:PORT, [IPv6]:PORT, localhost:PORT or :PORT
// (every address: the administrator's choice, said in the manual), the
// port from 0 (one the kernel picks, logged) to 65535.
func CheckMetricsAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if host == "" || host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
		return fmt.Errorf("%q: %q is not an IP address (names are not resolved)", s, host)
	}
	return nil
}
