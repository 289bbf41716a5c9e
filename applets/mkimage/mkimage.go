// Package mkimage is the mkimage applet: write the node image (initramfs)
// that bpmaster serves, for inspection or for booting nodes by other means.
//
// Synopsis:
//
//	bproc mkimage [--config FILE] [--state-dir DIR] -o FILE
package mkimage

import (
	"context"
	"fmt"
	"os"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/initramfs"
	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/master/nodeimage"
	"github.com/bproc/bproc/internal/shared/keys"
)

type cli struct {
	Config   string `placeholder:"FILE" default:"${config}" help:"Configuration file: its kernel and modules lines."`
	StateDir string `placeholder:"DIR" help:"Where the keys are (default statedir of the config)."`
	Output   string `short:"o" required:"" placeholder:"FILE" help:"Write the image here (gzip-compressed newc cpio)."`
}

// Main writes the image.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("mkimage", doc, &c, args, io, vars()); err != nil {
		return err
	}
	file, err := config.Load(c.Config, c.Config != config.DefaultPath)
	if err != nil {
		return err
	}
	dir := c.StateDir
	if dir == "" {
		dir = file.StateDir
	}
	if _, err := keys.LoadOrCreate(dir); err != nil {
		return err
	}
	opts, err := nodeimage.Options(file, dir, applets.Linked())
	if err != nil {
		return err
	}
	out, err := os.OpenFile(c.Output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // it holds the node key
	if err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	if err := initramfs.Write(out, opts); err != nil {
		out.Close()
		os.Remove(c.Output)
		return err
	}
	return out.Close()
}
