package mkimage

import (
	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
	"github.com/bproc/bproc/internal/master/config"
)

// doc is mkimage's --help description and manual page.
var doc = &applets.Doc{
	ViaBproc: true,
	Synopsis: []string{"[--config FILE] [--state-dir DIR] -o FILE"},
	Description: `Write the node image.

The image is the initramfs bpmaster serves to nodes that network-boot:
this binary as /init, the node key and the master's host key, and the
kernel modules the configuration names. Written for inspection, or for
booting nodes by other means; it holds the node key, so it is created
readable by its owner only.`,
	Examples: []manpage.Example{
		{Command: "bproc mkimage -o /tmp/node.img && zcat /tmp/node.img | cpio -t", Text: "Write the image and list what it holds:"},
	},
	SeeAlso: []string{"bpmaster(1)", "bproc-config(5)"},
}

// Manual is what mkimage's manual page is made from.
func Manual() applets.Manual {
	return applets.Manual{Doc: doc, CLI: &cli{}, Options: []kong.Option{vars()}}
}

func vars() kong.Vars { return kong.Vars{"config": config.DefaultPath} }
