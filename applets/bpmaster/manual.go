package bpmaster

import (
	"strconv"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// doc is bpmaster's --help description and manual page.
var doc = &applets.Doc{
	Description: `The bproc master daemon.

bpmaster keeps the node table, runs the ghosts of remote processes and
answers the tools (bpsh, bpstat, bpctl, bpcp) and libbproc on a unix
socket; nodes (bpslave) connect to it over SSH on TCP. With interface and
kernel lines in the configuration file it also serves the boot network:
DHCP, TFTP and HTTP for nodes that network-boot the image built from this
binary.

With --local-nodes it also starts N namespace nodes on this machine, and
stops them, leaving nothing behind, on SIGINT or SIGTERM. A master killed
(SIGKILL, a crash) leaves them running with their processes: the next
master started on the same state directory with the same --local-nodes
takes them back; nodes no master takes back end after the grace time
(nodegrace). SIGHUP reads
the configuration file again: the node table at once, a changed kernel,
modules or interface by building the image again; a file that does not
read or build keeps the running configuration.

Before a node is up, the executable files in the node_up.d directory run
on it as root, in the order of their names, their output going to
log/node.N in the state directory; a script that fails leaves the node in
state error.

With --metrics ADDR (or a metrics line) it serves /metrics in
Prometheus's text format on exactly that address: node states, loads,
memory, processes per node, launch and boot durations, bytes served,
connections, moves, held nodes and their reasons; no user names and no
command lines.`,
	Files: []manpage.Item{
		{Tag: config.DefaultPath, Text: "The configuration file; see bproc-config(5)."},
		{Tag: "/etc/bproc/node_up.d", Text: "Scripts run on each node before it is up (nodeupdir)."},
		{Tag: "/var/lib/bproc", Text: "The master's host key, the node key and node settings (statedir)."},
		{Tag: localapi.DefaultSocket, Text: "The socket of the tools and ghosts."},
	},
	Examples: []manpage.Example{
		{Command: "bpmaster --local-nodes 4", Text: "A master with four diskless namespace nodes, to try bproc on one machine:"},
		{Command: "bpmaster --config /etc/bproc/config -v", Text: "A master for a real cluster, logging debug messages:"},
		{Command: "bpmaster --local-nodes 4 --metrics 127.0.0.1:9464", Text: "With Prometheus's /metrics on loopback:"},
	},
	SeeAlso: []string{"bproc-config(5)", "bpslave(1)", "bpstat(1)", "bpctl(1)", "bproc-mkimage(1)"},
}

// Manual is what bpmaster's manual page is made from.
func Manual() applets.Manual {
	return applets.Manual{Doc: doc, CLI: &cli{}, Options: []kong.Option{vars()}}
}

func vars() kong.Vars {
	return kong.Vars{"socket": localapi.DefaultSocket, "config": config.DefaultPath,
		"port": strconv.Itoa(wire.DefaultPort), "statedir": config.DefaultStateDir,
		"pingtimeout": config.DefaultPingTimeout.String(), "nodegrace": wire.DefaultGrace.String(), "nodeupdir": config.DefaultNodeUpDir}
}
