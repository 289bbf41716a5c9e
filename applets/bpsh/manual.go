package bpsh

import (
	"strconv"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// doc is bpsh's --help description and manual page.
var doc = &applets.Doc{
	Synopsis: []string{
		"[OPTIONS] NODESPEC COMMAND [ARGS...]",
		"-a|-A|-1 [OPTIONS] COMMAND [ARGS...]",
	},
	Description: `Run a command on nodes.

NODESPEC is node numbers and ranges (0-3,7, or the host list n[0-3,7] of
pdsh, clush and Slurm), all, allup, allnotdown, a
state name (up, down, error, unavailable) or a node's address; -a, -A and
-1 stand for all nodes that are up, all that are not down, and the master.

The command is looked up in PATH here, on the master, and runs on each
node as the caller, in the caller's working directory, seeing the
master's files. Every remote process has a ghost here that is a child of
bpsh: ps and kill see it, signals sent to bpsh reach every copy, and the
ghost exits as its process did, so job control works as it does for local
processes.

Output of the nodes is copied as it comes, or held and shown node by node
(-s, -d), or folded into one block per distinct output (--gather).
Each process gets BPROC_RANK (its rank among all copies, from 0),
BPROC_NODE and BPROC_PROGNAME (the program's path) in its environment.`,
	Exit: `With one node, the command's own exit status (128 plus the signal
number when a signal ended it). With several, the largest of them, and a
line on stderr for each node whose process a signal ended. 255 when a
node could not run the command or was lost, 127 when the command was not
found here, 126 when it is a directory, 2 on a bad command line.`,
	Env: []manpage.Item{
		{Tag: "BPROC_RANK, BPROC_NODE, BPROC_PROGNAME", Text: "Set for the command: its rank (seven digits), its node and the program's path."},
		{Tag: "PMI_PORT, PMI_ID, PMI_RANK, PMI_SIZE", Text: "Set for the command with --pmi: where bpsh's PMI server is, the rank's secret handshake, its rank and the job's size."},
	},
	Examples: []manpage.Example{
		{Command: "bpsh -a -p hostname", Text: "Every node that is up says its name, each line after its node number:"},
		{Command: "bpsh 0-3 --gather uname -r", Text: "Which kernels four nodes run, one block per answer:"},
		{Command: "bpsh -T 2 top", Text: "An interactive program on node 2:"},
		{Command: "bpsh --pmi --per-node 2 0-1 ./allreduce", Text: "An MPI job of MPICH's family, two ranks on each of nodes 0 and 1:"},
	},
	SeeAlso: []string{"bpstat(1)", "bpctl(1)", "bpcp(1)", "bpmaster(1)"},
}

// vars are the values kong puts in bpsh's tags.
func vars() kong.Vars {
	return kong.Vars{
		"socket":  localapi.DefaultSocket,
		"bufsize": strconv.Itoa(defaultBufSize),
		"pernode": strconv.Itoa(defaultPerNode),
	}
}

// Manual is what bpsh's manual page is made from.
func Manual() applets.Manual {
	return applets.Manual{Doc: doc, CLI: &cli{}, Options: []kong.Option{vars()}}
}
