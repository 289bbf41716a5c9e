package bpstat

import (
	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// doc is bpstat's --help description and manual page.
var doc = &applets.Doc{
	Synopsis: []string{"[-c|-l|-a|-s|-n|-t|-p|-P] [OPTIONS] [NODESPEC...]", "--events [--json]"},
	Description: `Node and process status.

Without options bpstat prints BProc's compact table: nodes with equal
state, mode, owner and group share a row. A node spec (0-3,7, all, up, an
address) limits what is shown. A node's mode, owner and group say who may
run processes there (bpctl sets them).

-p lists the processes bproc runs on nodes, and those they fork there:
their PID here (their ghost's), node, parent here (PPID: a forked
process's is its parent's ghost), PID on the node (the same unless that
number was taken there) and command; -P reads ps output on stdin and puts a node column
before each line, so that ps -ef | bpstat -P shows where each process
runs.

-l ends the line of a node an administrator holds in error or
unavailable with since when and why (bpctl -s unavailable --reason).

--events prints what happens, as it happens: node state changes, and
remote processes starting and ending (your own; root sees everyone's),
until interrupted. A reader that falls 1024 events behind is cut off
with a message, and bpstat exits 1.`,
	Examples: []manpage.Example{
		{Command: "bpstat -l", Text: "One line per node, with its load, memory, uptime and processes:"},
		{Command: "bpstat -t up", Text: "How many nodes are up:"},
		{Command: "ps -ef | bpstat -P", Text: "ps with a node column:"},
		{Command: "bpstat --events --json", Text: "The event stream, a JSON object per line:"},
	},
	SeeAlso: []string{"bpsh(1)", "bpctl(1)", "bpmaster(1)"},
}

// Manual is what bpstat's manual page is made from.
func Manual() applets.Manual {
	return applets.Manual{Doc: doc, CLI: &cli{}, Options: []kong.Option{vars()}}
}

func vars() kong.Vars { return kong.Vars{"socket": localapi.DefaultSocket} }
