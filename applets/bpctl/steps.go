package bpctl

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// step is one option of the command line, in the order given: BProc's
// bpctl applies each change to the nodes selected so far.
type step struct {
	flag string // the option as typed, for messages
	kind string // select, master, state, action, mode, user, group
	arg  string
	// reason is --reason's text, given after -s error|unavailable.
	reason string
}

// option is a spelling's kind and whether it takes a value.
type option struct {
	kind     string
	needsArg bool
	action   string
}

// options maps each spelling to its option; it is made from flags at its
// first use, not by an initialiser that every applet's run would pay for.
func options() map[string]option {
	optionsOnce.Do(func() {
		optionsMap = map[string]option{}
		for _, f := range flags {
			if f.kind == "" {
				continue // parsed apart: --socket, --help
			}
			for _, name := range []string{f.short, f.long} {
				if name != "" {
					optionsMap[name] = option{f.kind, f.arg != "", f.action}
				}
			}
		}
	})
	return optionsMap
}

var (
	optionsOnce sync.Once
	optionsMap  map[string]option
)

// parsed is the command line: the steps, and the options that are not
// steps.
type parsed struct {
	steps  []step
	socket string
	help   bool
}

// parseArgs reads the command line left to right. Values may be attached
// ("-S3", "--slave=3") or follow ("-S 3").
func parseArgs(args []string) (parsed, error) {
	var p parsed
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" {
			p.help = true
			continue
		}
		name, val, hasVal := a, "", false
		switch {
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a, "=")
		case strings.HasPrefix(a, "-") && len(a) > 2:
			name, val, hasVal = a[:2], a[2:], true
		}
		if name == "--socket" {
			if !hasVal {
				if i+1 >= len(args) {
					return p, fmt.Errorf("--socket: missing path")
				}
				i++
				val = args[i]
			}
			p.socket = val
			continue
		}
		opt, ok := options()[name]
		if !ok {
			if strings.HasPrefix(a, "-") {
				return p, fmt.Errorf("unknown option %s", a)
			}
			return p, fmt.Errorf("unexpected argument %q (node lists go after -S)", a)
		}
		switch {
		case opt.needsArg && !hasVal:
			if i+1 >= len(args) {
				return p, fmt.Errorf("%s: missing value", name)
			}
			i++
			val = args[i]
		case !opt.needsArg && hasVal:
			return p, fmt.Errorf("%s takes no value (got %q)", name, val)
		}
		s := step{flag: name, kind: opt.kind, arg: val}
		if opt.kind == "action" {
			s.arg = opt.action
		}
		if err := s.check(); err != nil {
			return p, err
		}
		if s.kind == "reason" {
			if err := attachReason(p.steps, s); err != nil {
				return p, err
			}
			continue
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

// check rejects values that can be judged without the master.
func (s step) check() error {
	switch s.kind {
	case "state":
		switch s.arg {
		case "up", "error", "unavailable", "reboot", "halt", "pwroff":
		case "down", "boot":
			return fmt.Errorf("%s %s: the master sets that state itself", s.flag, s.arg)
		default:
			return fmt.Errorf("%s %q: not a state (up, error, unavailable, reboot, halt, pwroff)", s.flag, s.arg)
		}
	case "mode":
		if _, err := parseMode(s.arg); err != nil {
			return fmt.Errorf("%s %q: %w", s.flag, s.arg, err)
		}
	case "add-node":
		if mac, err := net.ParseMAC(s.arg); err != nil || len(mac) != 6 {
			return fmt.Errorf("%s %q: not a MAC address", s.flag, s.arg)
		}
	case "node-token":
		if n, err := strconv.Atoi(s.arg); err != nil || n < 0 {
			return fmt.Errorf("%s %q: not a node number", s.flag, s.arg)
		}
	case "chroot":
		return fmt.Errorf("%s: bproc nodes have no chroot; their root is built by the master", s.flag)
	case "user", "group", "select":
		if s.arg == "" {
			return fmt.Errorf("%s: empty value", s.flag)
		}
	}
	return nil
}

// parseMode reads an octal mode in which only execute bits may be set.
func parseMode(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("not an octal mode")
	}
	if v&^0o111 != 0 {
		return 0, fmt.Errorf("only execute bits (0111) mean anything on a node")
	}
	return uint32(v), nil
}
