// Package bpmaster is the bpmaster applet: the master daemon.
//
// Synopsis:
//
//	bpmaster [--local-nodes N] [--socket PATH] [--listen ADDR] [--state-dir DIR]
//
// It serves tools and ghosts on a unix socket and nodes over SSH on TCP.
// With --local-nodes it also starts N namespace nodes on this machine, and
// stops them (leaving nothing behind) on SIGINT or SIGTERM.
package bpmaster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/localapi"
	"github.com/bproc/bproc/master"
)

type cli struct {
	Socket      string        `env:"BPROC_SOCKET" default:"${socket}" help:"Unix socket for tools and ghosts."`
	Listen      string        `default:":2223" help:"TCP address nodes connect to."`
	StateDir    string        `default:"/var/lib/bproc" help:"Where the keys are kept (generated on first start)."`
	LocalNodes  int           `help:"Start this many namespace nodes on this machine."`
	Nodes       int           `help:"Size of the node table (default: --local-nodes)."`
	PingTimeout time.Duration `default:"30s" help:"A node silent this long is down (BProc's pingtimeout); nodes are pinged every half of it."`
	NodeUpDir   string        `default:"/etc/bproc/node_up.d" help:"Scripts run on each node, as root, before it is up."`
	Verbose     bool          `short:"v" help:"Log debug messages."`
}

// Main runs the master until ctx is cancelled.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpmaster", "The bproc master daemon.", &c, args, io,
		kong.Vars{"socket": localapi.DefaultSocket}); err != nil {
		return err
	}
	if c.LocalNodes < 0 || c.LocalNodes > 4096 {
		return &applets.UsageError{Err: fmt.Errorf("--local-nodes %d: want 0 to 4096", c.LocalNodes)}
	}
	if c.Nodes < 0 || c.Nodes > 65536 {
		return &applets.UsageError{Err: fmt.Errorf("--nodes %d: want 0 to 65536", c.Nodes)}
	}
	if c.PingTimeout < 200*time.Millisecond {
		return &applets.UsageError{Err: fmt.Errorf("--ping-timeout %s: want at least 200ms", c.PingTimeout)}
	}
	if c.LocalNodes > 0 && os.Geteuid() != 0 {
		return fmt.Errorf("--local-nodes needs root (namespaces and chosen PIDs)")
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: level}))
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	m, err := master.New(master.Config{
		Socket: c.Socket, Listen: c.Listen, StateDir: c.StateDir,
		LocalNodes: c.LocalNodes, Nodes: c.Nodes, Binary: bin, PingInterval: c.PingTimeout / 2,
		NodeUpDir: c.NodeUpDir, Log: log,
	})
	if err != nil {
		return err
	}
	return m.Run(ctx)
}
