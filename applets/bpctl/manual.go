package bpctl

import (
	"fmt"
	"strings"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// flag is one of bpctl's options: the parser (options), --help (usage)
// and the manual page (Manual) are all made from flags.
type flag struct {
	short, long string // "-S", "--slave"
	arg         string // the value's placeholder; "" takes none
	kind        string // the step it makes; "" for --socket and --help
	action      string // for kind action
	help        string
}

var flags = []flag{
	{"-M", "--master", "", "master", "", "Select the master."},
	{"-S", "--slave", "NODES", "select", "", "Select nodes: a node spec (0-3,7, all, up, an address)."},
	{"-s", "--state", "STATE", "state", "", "Set the state: up, error or unavailable (or reboot, halt, pwroff)."},
	{"", "--reason", "TEXT", "reason", "", "Why: goes after -s error or -s unavailable (\"bad DIMM\"); bpstat -l, --json and the metrics show it, with since when."},
	{"-R", "--reboot", "", "action", "reboot", "Reboot the selected nodes."},
	{"-H", "--halt", "", "action", "halt", "Halt them."},
	{"-P", "--pwroff", "", "action", "pwroff", "Power them off."},
	{"-m", "--mode", "MODE", "mode", "", "Who may run processes there: execute bits, e.g. 0110 (owner and group)."},
	{"-u", "--user", "USER", "user", "", "Owner (root only)."},
	{"-g", "--group", "GROUP", "group", "", "Group (root, or the owner to one of its groups)."},
	{"-r", "--chroot", "DIR", "chroot", "", "BProc's; refused: bproc nodes have no chroot, the master builds their root."},
	{"", "--add-node", "MAC", "add-node", "", "Add a node for a MAC address to the configuration file: the number after the last node line; taken on at once (root)."},
	{"", "--node-token", "N", "node-token", "", "Print a one-time boot token for node N, for a bpslave started by hand ($BPROC_TOKEN; root)."},
	{"", "--socket", "PATH", "", "", "bpmaster's socket. Environment: $BPROC_SOCKET; default " + localapi.DefaultSocket + "."},
	{"-h", "--help", "", "", "", "Show this help."},
}

// tag is the option as --help shows it: "-S, --slave=NODES".
func (f flag) tag() string {
	t := f.long
	if f.short != "" {
		t = f.short + ", " + t
	} else {
		t = "    " + t
	}
	if f.arg != "" {
		t += "=" + f.arg
	}
	return t
}

// doc is bpctl's --help description and manual page.
var doc = &applets.Doc{
	Synopsis: []string{"-S NODESPEC [-s STATE] [-R|-H|-P] [-m MODE] [-u USER] [-g GROUP] ...", "--add-node MAC"},
	Description: `Change nodes. Options apply left to right, each to the nodes selected so far.

As in BProc, bpctl -S 0-3 -u alice -S 4 -s unavailable gives nodes 0 to 3
to alice and makes node 4 unavailable. A node's mode, owner and group say
who may run processes on it: the owner when the mode has 0100, members of
the group with 0010, everyone with 0001; root always may. Only root sets
states, reboots, halts and changes owners; a node's owner may change its
mode, and its group to one of the owner's own groups.

Errors are printed per node as "N: error"; the other nodes are changed.`,
	Exit: `0 when every change was made, 1 if any node could not be changed
(or the master could not be reached), 2 on a bad command line.`,
	Examples: []manpage.Example{
		{Command: "bpctl -S 1 -u alice -m 0100", Text: "Give node 1 to alice alone:"},
		{Command: "bpctl -S 5 -R", Text: "Reboot node 5:"},
		{Command: "bpctl --add-node 52:54:00:12:34:56", Text: "Add a node for a new machine's MAC address:"},
	},
	SeeAlso: []string{"bpstat(1)", "bpsh(1)", "bproc-config(5)"},
}

// usage is bpctl's --help.
func usage() string {
	paras := strings.Split(strings.TrimSpace(doc.Description), "\n\n")
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: bpctl [options]\n\n%s\n\n", paras[0])
	for _, f := range flags {
		fmt.Fprintf(&b, "  %-22s %s\n", f.tag(), f.help)
	}
	for _, p := range paras[1:] {
		fmt.Fprintf(&b, "\n%s\n", p)
	}
	return b.String()
}

// Manual is what bpctl's manual page is made from.
func Manual() applets.Manual {
	m := applets.Manual{Doc: doc}
	for _, f := range flags {
		m.Flags = append(m.Flags, manpage.Item{Tag: strings.TrimSpace(f.tag()), Text: f.help})
	}
	return m
}
