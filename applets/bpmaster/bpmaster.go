// Package bpmaster is the bpmaster applet: the master daemon.
//
// Synopsis:
//
//	bpmaster [--config FILE] [--local-nodes N] [--socket PATH] [--listen ADDR] [--state-dir DIR] [--metrics ADDR]
//
// It serves tools and ghosts on a unix socket and nodes over SSH on TCP.
// With --local-nodes it also starts N namespace nodes on this machine, and
// stops them (leaving nothing behind) on SIGINT or SIGTERM; killed, it
// leaves them to the next master on the same state directory. SIGHUP re-reads
// the configuration file.
package bpmaster

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/master"
	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/nodeauth"
)

// The flags without a default here take theirs from the configuration
// file (BProc's keywords), and override it when given.
type cli struct {
	Config      string         `placeholder:"FILE" help:"Configuration file (default ${config}, if it exists)."`
	Socket      string         `env:"BPROC_SOCKET" default:"${socket}" help:"Unix socket for tools and ghosts."`
	Listen      string         `placeholder:"ADDR" help:"TCP address nodes connect to (default :bprocport, ${port})."`
	StateDir    string         `placeholder:"DIR" help:"Keys and node settings (default statedir, ${statedir})."`
	LocalNodes  int            `help:"Start this many namespace nodes on this machine."`
	Diskless    bool           `default:"true" negatable:"" help:"Local nodes have a root of their own, with nothing of the master's: their processes see the master's files through a view fetched as it is read, and write to the node. --no-diskless binds the master's directories into their roots read-only instead."`
	PushOnly    bool           `help:"Diskless nodes without the view: the programs (executable, interpreter, libraries) are pushed to the node's root as they are run."`
	Nodes       int            `help:"Nodes 0 to N-1 exist, beside those of the config (default: --local-nodes)."`
	PingTimeout time.Duration  `help:"A node silent this long is down; nodes are pinged every half of it (default pingtimeout, ${pingtimeout})."`
	NodeGrace   *time.Duration `help:"A node that lost the master keeps its processes this long, waiting for a master to take them back; 0 ends them at once (default nodegrace, ${nodegrace})."`
	NodeUpDir   string         `placeholder:"DIR" help:"Scripts run on each node, as root, before it is up (default nodeupdir, ${nodeupdir})."`
	BootOnly    bool           `help:"Run only the boot services (DHCP, TFTP, HTTP) of the config, for debugging."`
	Verbose     bool           `short:"v" help:"Log debug messages."`
	Metrics     string         `placeholder:"ADDR" help:"Serve /metrics (Prometheus text format) on ADDR, e.g. 127.0.0.1:9464 (default metrics of the file; none)."`
}

// Main runs the master until ctx is cancelled.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpmaster", doc, &c, args, io, vars()); err != nil {
		return err
	}
	if c.LocalNodes < 0 || c.LocalNodes > 4096 {
		return &applets.UsageError{Err: fmt.Errorf("--local-nodes %d: want 0 to 4096", c.LocalNodes)}
	}
	if c.Nodes < 0 || c.Nodes > config.MaxNode+1 {
		return &applets.UsageError{Err: fmt.Errorf("--nodes %d: want 0 to %d", c.Nodes, config.MaxNode+1)}
	}
	if c.PingTimeout != 0 && c.PingTimeout < 200*time.Millisecond {
		return &applets.UsageError{Err: fmt.Errorf("--ping-timeout %s: want at least 200ms", c.PingTimeout)}
	}
	if c.NodeGrace != nil && *c.NodeGrace < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--node-grace %s: want 0 or more", *c.NodeGrace)}
	}
	if c.Metrics != "" {
		if err := config.CheckMetricsAddr(c.Metrics); err != nil {
			return &applets.UsageError{Err: fmt.Errorf("--metrics: %w", err)}
		}
	}
	if c.LocalNodes > 0 && os.Geteuid() != 0 {
		return fmt.Errorf("--local-nodes needs root (namespaces and chosen PIDs)")
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: level}))
	path, named := c.Config, c.Config != ""
	if !named {
		path = config.DefaultPath
	}
	file, err := config.Load(path, named)
	if err != nil {
		return err // every bad line, FILE:LINE: what; the master does not start
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	mc := c.masterConfig(file, path, bin, log)
	// The boot server answers by the configuration in force.
	var live atomic.Pointer[config.Config]
	live.Store(file)
	// SIGHUP is caught from here on: before the services run, its
	// default action would end the master.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	boot, err := startBoot(file, live.Load, mc, c.BootOnly, log)
	if err != nil {
		return err
	}
	defer boot.close()
	mc.OnReload = func(f *config.Config) {
		live.Store(f)
		boot.reload(f)
	}
	reload := func() { bootOnlyReload(path, live.Load(), mc.OnReload, log) }
	if !c.BootOnly {
		m, err := master.New(mc)
		if err != nil {
			return err
		}
		reload = m.Reload
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// A reload in progress ends before the boot services close.
		var hupDone sync.WaitGroup
		hupDone.Go(func() { onHUP(ctx, hup, reload) })
		err = m.Run(ctx)
		cancel()
		hupDone.Wait()
		return err
	}
	onHUP(ctx, hup, reload)
	return nil
}

// masterConfig merges the file and the flags: a flag given wins.
func (c *cli) masterConfig(file *config.Config, path, bin string, log *slog.Logger) master.Config {
	mc := master.Config{
		Socket: c.Socket, Listen: c.Listen, StateDir: c.StateDir, NodeUpDir: c.NodeUpDir,
		LocalNodes: c.LocalNodes, Diskless: c.Diskless, PushOnly: c.PushOnly, CacheSize: file.CacheSize, Nodes: c.Nodes, Binary: bin, Log: log,
		File: file, FilePath: path,
		// One store: the boot service mints, the master takes.
		Tokens: nodeauth.NewTokens(),
	}
	if mc.Listen == "" {
		mc.Listen = fmt.Sprintf(":%d", file.Port)
	}
	if mc.StateDir == "" {
		mc.StateDir = file.StateDir
	}
	mc.Metrics = cmp.Or(c.Metrics, file.Metrics)
	// NodeUpDir stays empty without the flag: the master then takes the
	// running config's, which a SIGHUP changes.
	timeout := c.PingTimeout
	if timeout == 0 {
		timeout = file.PingTimeout
	}
	mc.PingInterval = timeout / 2
	mc.NodeGrace = file.NodeGrace
	if c.NodeGrace != nil {
		mc.NodeGrace = *c.NodeGrace
	}
	return mc
}

// onHUP calls reload for every SIGHUP until ctx ends.
func onHUP(ctx context.Context, hup <-chan os.Signal, reload func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload()
		}
	}
}

// bootOnlyReload is SIGHUP of --boot-only: the file again, as the master
// would read it, for the boot services alone.
func bootOnlyReload(path string, running *config.Config, apply func(*config.Config), log *slog.Logger) {
	file, err := config.LoadAgain(path, running)
	if err != nil {
		log.Error("reload: configuration not changed", "err", err)
		return
	}
	log.Info("configuration reloaded", "file", path, "nodes", len(file.Nodes()))
	apply(file)
}
