package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// keyword is how one keyword's line is checked and applied.
type keyword struct {
	usage    string // the line's form, shown when the argument count is wrong
	min, max int    // argument counts; max < 0 means no limit
	once     bool   // a second line is an error rather than an override
	parse    func(p *parser, args []string)
}

// maxPingTimeout keeps seconds from overflowing a Duration and catches a
// value given in milliseconds by mistake.
const maxPingTimeout = 86400

// keywords is the table of keywords, made at its first use (a map is built
// by code: as a package-level variable, every run of the binary, bpsh's
// too, would pay for it). Keywords in files of their own add themselves
// through addKeywords.
func keywords() map[string]keyword {
	keywordsOnce.Do(func() {
		keywordsMap = map[string]keyword{
			"interface":   {"interface IF [IP NETMASK]", 1, 3, false, parseInterface},
			"ip":          {"ip [NODE] ADDR...", 1, -1, false, parseIP},
			"iprange":     {"iprange [NODE] FIRST LAST", 2, 3, false, parseIPRange},
			"node":        {"node [NODE] MAC...", 1, -1, false, parseNode},
			"nodes":       {"nodes COUNT", 1, 1, true, parseNodes},
			"bootfile":    {"bootfile [NODESPEC] FILE", 1, 2, false, parseBootFile},
			"libraries":   {"libraries GLOB...", 1, -1, false, parseLibraries},
			"bprocport":   {"bprocport PORT", 1, 1, true, parsePort},
			"pingtimeout": {"pingtimeout SECONDS", 1, 1, true, parsePingTimeout},
			"master":      {"master HOST[:PORT]...", 1, -1, false, parseMaster},

			"kernelcommandline": {"kernelcommandline ARG...", 1, -1, true, func(p *parser, args []string) {
				p.cfg.KernelCmdline = strings.Join(args, " ")
			}},
			"statedir":  {"statedir DIR", 1, 1, true, func(p *parser, args []string) { p.path(args[0], &p.cfg.StateDir) }},
			"nodeupdir": {"nodeupdir DIR", 1, 1, true, func(p *parser, args []string) { p.path(args[0], &p.cfg.NodeUpDir) }},
			"kernel":    {"kernel FILE", 1, 1, true, func(p *parser, args []string) { p.path(args[0], &p.cfg.Kernel) }},
			"modules":   {"modules DIR|NAME...", 1, -1, false, parseModules},
			"cachesize": {"cachesize SIZE", 1, 1, true, parseCacheSize},
			"pushsetid": {"pushsetid yes|no", 1, 1, true, parsePushSetID},
			"maxprocs":  {"maxprocs COUNT", 1, 1, true, parseMaxProcs},
			"tmpsize":   {"tmpsize SIZE", 1, 1, true, parseTmpSize},
			"nodegrace": {"nodegrace SECONDS", 1, 1, true, parseNodeGrace},

			// BProc 4's, meaningless here: see each note.
			"allowinsecureports": {"allowinsecureports", 0, 0, false, func(p *parser, _ []string) {
				p.note("nodes are authenticated by their SSH key, not by a privileged source port")
			}},
			"logfacility":   {"logfacility FACILITY", 1, 1, false, parseLogFacility},
			"slavetimesync": {"slavetimesync yes|no", 1, 1, false, parseSlaveTimeSync},
			"slave":         {"slave OPTION yes|no", 2, 2, false, parseSlave},
		}
		for _, add := range addKeywords {
			add(keywordsMap)
		}
	})
	return keywordsMap
}

var (
	keywordsOnce sync.Once
	keywordsMap  map[string]keyword
	// addKeywords are the keywords of files of their own.
	addKeywords = [...]func(map[string]keyword){addMaxConns, addMetrics}
)

// path sets *dst to s cleaned, if s is absolute.
func (p *parser) path(s string, dst *string) bool {
	if !filepath.IsAbs(s) {
		p.errorf("%q is not an absolute path", s)
		return false
	}
	*dst = filepath.Clean(s)
	return true
}

func parseInterface(p *parser, args []string) {
	if len(args) == 2 {
		p.errorf("got 2 arguments, want interface IF [IP NETMASK]")
		return
	}
	ifc := Interface{Name: args[0]}
	if !validIfName(ifc.Name) {
		p.errorf("%q is not an interface name", ifc.Name)
		return
	}
	for _, old := range p.ifLines {
		if old.ifc.Name == ifc.Name {
			p.errorf("%s given again (first on line %d)", ifc.Name, old.line)
			return
		}
	}
	if len(args) == 3 {
		addr, ok := p.ipv4(args[1])
		if !ok {
			return
		}
		bits, ok := maskBits(args[2])
		if !ok {
			p.errorf("netmask %q is not a netmask such as 255.255.255.0", args[2])
			return
		}
		if bits > 30 {
			p.errorf("netmask %s leaves no addresses for nodes", args[2])
			return
		}
		ifc.Addr = netip.PrefixFrom(addr, bits)
		if msg := ifaceAddrProblem(ifc.Addr); msg != "" {
			p.errorf("%s %s", addr, msg)
			return
		}
	}
	p.ifLines = append(p.ifLines, ifLine{p.line, ifc})
	p.cfg.Interfaces = append(p.cfg.Interfaces, ifc)
}

// validIfName is the kernel's dev_valid_name (what it refuses, no lookup
// can find), further kept to printable ASCII so that messages naming the
// interface print as given.
func validIfName(s string) bool {
	if s == "" || len(s) >= 16 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' || c == '/' || c == ':' {
			return false
		}
	}
	return true
}

// maskBits parses a dotted netmask (255.255.255.0) or a prefix length
// (24), the form ip(8) prints.
func maskBits(s string) (int, bool) {
	if n, ok := parseUint(s, 32); ok {
		return n, n > 0
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	ones, bits := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size()
	return ones, bits == 32 && ones > 0
}

// ifaceAddrProblem says why the master cannot have this address on the
// cluster network, or "".
func ifaceAddrProblem(pfx netip.Prefix) string {
	a := pfx.Addr()
	switch {
	case !usableAddr(a):
		return "cannot be an interface's address"
	case a == pfx.Masked().Addr():
		return "is the network address of " + pfx.Masked().String()
	case a == lastAddr(pfx):
		return "is the broadcast address of " + pfx.Masked().String()
	}
	return ""
}

func parsePort(p *parser, args []string) {
	n, ok := parseUint(args[0], 65535)
	if !ok || n == 0 {
		p.errorf("%q is not a port number (1-65535)", args[0])
		return
	}
	p.cfg.Port = n
}

func parsePingTimeout(p *parser, args []string) {
	n, ok := parseUint(args[0], maxPingTimeout)
	if !ok || n < 2 {
		p.errorf("%q is not a number of seconds from 2 to %d", args[0], maxPingTimeout)
		return
	}
	p.cfg.PingTimeout = time.Duration(n) * time.Second
}

func parseLibraries(p *parser, args []string) {
	for _, g := range args {
		if !filepath.IsAbs(g) {
			p.errorf("%q is not an absolute path", g)
			continue
		}
		if _, err := filepath.Match(g, ""); err != nil {
			p.errorf("%q is not a valid glob pattern", g)
			continue
		}
		p.cfg.Libraries = append(p.cfg.Libraries, g)
	}
}

// parseModules takes the module tree (an absolute directory, at most one)
// and module names, in any order and over several lines.
func parseModules(p *parser, args []string) {
	for _, a := range args {
		switch {
		case filepath.IsAbs(a):
			if p.modulesDir != 0 {
				p.errorf("module directory given again (first on line %d)", p.modulesDir)
				continue
			}
			p.modulesDir = p.line
			p.cfg.ModulesDir = filepath.Clean(a)
		case !validModuleName(a):
			p.errorf("%q is neither an absolute directory nor a module name", a)
		default:
			if l, dup := p.modules[a]; dup {
				p.errorf("%s given again (first on line %d)", a, l)
				continue
			}
			p.modules[a] = p.line
			p.cfg.Modules = append(p.cfg.Modules, a)
		}
	}
}

// validModuleName allows what modprobe takes: letters, digits, "_" and
// "-" (which modprobe treats alike), shorter than the kernel's
// MODULE_NAME_LEN of 56.
func validModuleName(s string) bool {
	if s == "" || len(s) > 55 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseCacheSize(p *parser, args []string) {
	n, err := ParseSize(args[0])
	if err != nil {
		p.errorf("%v", err)
		return
	}
	p.cfg.CacheSize = n
}

// parsePushSetID: whether pushed programs keep their setuid and setgid
// bits on a node (root's programs pushed with them run as root there).
func parsePushSetID(p *parser, args []string) {
	if p.yesNo(args[0]) {
		p.cfg.PushSetID = strings.EqualFold(args[0], "yes")
	}
}

// parseMaxProcs: processes of one user a node runs at once.
func parseMaxProcs(p *parser, args []string) {
	n, ok := parseUint(args[0], MaxMaxProcs)
	if !ok || n == 0 {
		p.errorf("%q is not a number of processes from 1 to %d", args[0], MaxMaxProcs)
		return
	}
	p.cfg.MaxProcs = n
}

// parseTmpSize: the size of each of a node's tmpfs (/tmp, /var/tmp, /run,
// /dev/shm).
func parseTmpSize(p *parser, args []string) {
	n, err := ParseSize(args[0])
	if err == nil && n < MinTmpSize {
		err = fmt.Errorf("%q is less than %d KiB", args[0], MinTmpSize>>10)
	}
	if err != nil {
		p.errorf("%v", err)
		return
	}
	p.cfg.TmpSize = n
}

// syslogFacilities are the names BProc's logfacility took (syslog.h's
// facilitynames).
var syslogFacilities = []string{
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
	"security", "syslog", "user", "uucp",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

func parseLogFacility(p *parser, args []string) {
	if !slices.Contains(syslogFacilities, strings.ToLower(args[0])) {
		p.errorf("%q is not a syslog facility", args[0])
		return
	}
	p.note("bpmaster logs to its standard error")
}

func parseSlaveTimeSync(p *parser, args []string) {
	if p.yesNo(args[0]) {
		p.note("nodes keep their own clock")
	}
}

// parseSlave takes BProc 4's "slave timesync yes" and "slave privatefs no".
func parseSlave(p *parser, args []string) {
	switch strings.ToLower(args[0]) {
	case "timesync":
		if p.yesNo(args[1]) {
			p.note("nodes keep their own clock")
		}
	case "privatefs":
		if p.yesNo(args[1]) {
			p.note("every node has a private mount namespace")
		}
	default:
		p.errorf("%q is not a slave option (timesync, privatefs)", args[0])
	}
}

func (p *parser) yesNo(s string) bool {
	if !strings.EqualFold(s, "yes") && !strings.EqualFold(s, "no") {
		p.errorf("%q is not yes or no", s)
		return false
	}
	return true
}

// parseUint parses decimal digits only, up to max: strconv alone would
// take a sign, and "+30" or "0x1e" in a config is more likely a mistake
// than a number.
func parseUint(s string, max int) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseNodeGrace: how long a node keeps its processes without a master.
func parseNodeGrace(p *parser, args []string) {
	n, ok := parseUint(args[0], maxPingTimeout)
	if !ok {
		p.errorf("%q is not a number of seconds from 0 to %d", args[0], maxPingTimeout)
		return
	}
	p.cfg.NodeGrace = time.Duration(n) * time.Second
}
