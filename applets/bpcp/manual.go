package bpcp

import (
	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// doc is bpcp's --help description and manual page.
var doc = &applets.Doc{
	Synopsis: []string{"[-p] [-r] SRC... DST"},
	Description: `Copy files to, from and between nodes.

A path on a node is NODE:PATH (3:/tmp/out, n3:out); a relative path on a
node is taken from the directory bpcp runs in. Either side, or both, may
be on a node; with several sources the destination is a directory.

On a node, a file server runs as the caller, so each side's kernel checks
the caller's permissions. A copy is written to a temporary name and
renamed into place: a failed copy leaves nothing at the destination.`,
	Examples: []manpage.Example{
		{Command: "bpcp results.txt 2:/tmp/", Text: "Copy a file to node 2:"},
		{Command: "bpcp -r 0:/var/log/app logs/n0", Text: "Copy a directory from node 0 here:"},
	},
	SeeAlso: []string{"bpsh(1)", "cp(1)"},
}

// Manual is what bpcp's manual page is made from.
func Manual() applets.Manual {
	return applets.Manual{Doc: doc, CLI: &cli{}, Options: []kong.Option{vars()}}
}

func vars() kong.Vars { return kong.Vars{"socket": localapi.DefaultSocket} }
