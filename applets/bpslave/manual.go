package bpslave

import (
	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
)

// doc is bpslave's --help description and manual page.
var doc = &applets.Doc{
	Description: `The bproc node daemon.

bpslave dials the master, proves which node it is with the node key,
checks the master against its pinned host key, and runs the processes the
master sends, reporting how they end. A master silent for two ping
intervals is given up, and bpslave dials again.

On a netbooted node it is started by init, the image's /init; with
--local, bpmaster --local-nodes starts it as PID 1 of fresh namespaces,
and it first builds the node's diskless root. It is seldom run by hand.`,
	Files: []manpage.Item{
		{Tag: "/var/lib/bproc/node_key", Text: "The key a node proves itself with (--key)."},
		{Tag: "/var/lib/bproc/host_key.pub", Text: "The master's host key (--host-key)."},
	},
	SeeAlso: []string{"bpmaster(1)", "bproc-config(5)"},
}

// Manual is what bpslave's manual page is made from.
func Manual() applets.Manual { return applets.Manual{Doc: doc, CLI: &cli{}} }
