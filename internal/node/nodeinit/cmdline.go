// Package nodeinit is what a netbooted node's PID 1 does before it is a
// bproc node: the file systems every process expects, the NIC's kernel
// modules, a DHCP lease, and where the master is.
package nodeinit

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bproc/bproc/internal/shared/nodeauth"
)

// Params are what the master put on the kernel command line (netboot's
// iPXE script): bproc.master=IP:PORT bproc.node=N bproc.mac=MAC
// bproc.token=TOKEN, and from the config bproc.cachesize=BYTES and
// bproc.tmpsize=BYTES.
type Params struct {
	Master    string // host:port; "" when not given
	Node      int    // -1 when not given
	MAC       net.HardwareAddr
	CacheSize int64 // limit of the node's copies of the master's files; 0: none
	TmpSize   int64 // bytes of /tmp and /run (the config's tmpsize); 0: the kernel's default
	// Token is this boot's one-time token (package nodeauth), which the
	// node's first connection shows; "" when the script had none.
	Token string
}

// ParseCmdline reads /proc/cmdline's bproc.* words; other words are the
// kernel's and are left alone. A bproc word with a bad value is an error
// naming it: a node must not dial a wrong master on a typo.
func ParseCmdline(cmdline string) (Params, error) {
	p := Params{Node: -1}
	for _, w := range strings.Fields(cmdline) {
		key, val, _ := strings.Cut(w, "=")
		switch key {
		case "bproc.master":
			ap, err := netip.ParseAddrPort(val)
			if err != nil || ap.Port() == 0 {
				return p, fmt.Errorf("kernel command line: bproc.master=%q: want IP:PORT", val)
			}
			p.Master = ap.String()
		case "bproc.node":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return p, fmt.Errorf("kernel command line: bproc.node=%q: want a node number", val)
			}
			p.Node = n
		case "bproc.cachesize":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return p, fmt.Errorf("kernel command line: bproc.cachesize=%q: want a number of bytes", val)
			}
			p.CacheSize = n
		case "bproc.tmpsize":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return p, fmt.Errorf("kernel command line: bproc.tmpsize=%q: want a number of bytes", val)
			}
			p.TmpSize = n
		case "bproc.token":
			if !nodeauth.ValidToken(val) {
				return p, fmt.Errorf("kernel command line: bproc.token=%.80q: want 64 hex digits", val)
			}
			p.Token = val
		case "bproc.mac":
			mac, err := net.ParseMAC(val)
			if err != nil {
				return p, fmt.Errorf("kernel command line: bproc.mac=%q: %v", val, err)
			}
			p.MAC = mac
		}
	}
	return p, nil
}
