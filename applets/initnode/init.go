// Package initnode is /init of a netbooted node: PID 1, it sets the node up
// (file systems, NIC modules, a DHCP lease), then is bpslave for good. It
// never exits, since a PID 1 that exits panics the kernel: every failure is
// a line on the console and another try.
package initnode

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/initramfs"
	"github.com/bproc/bproc/internal/node"
	"github.com/bproc/bproc/internal/node/nodeinit"
	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Main runs the node.
func Main(ctx context.Context, args []string, stdio applets.IO) error {
	if os.Getpid() != 1 {
		return &applets.UsageError{Err: fmt.Errorf("init is PID 1 of a netbooted node; elsewhere run bpslave")}
	}
	log := slog.New(slog.NewTextHandler(stdio.Stderr, nil)).With("applet", "init")
	retry(ctx, log, "mount file systems", nodeinit.Mount)
	var uts unix.Utsname
	unix.Uname(&uts)
	modDir := filepath.Join(initramfs.ModulesRoot, unix.ByteSliceToString(uts.Release[:]))
	if err := nodeinit.LoadModules(initramfs.ModuleListPath, modDir); err != nil {
		log.Warn("some modules did not load", "err", err)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	p, err := nodeinit.ParseCmdline(string(cmdline))
	if err != nil {
		log.Error("ignoring the bproc words of the kernel command line", "err", err)
		p = nodeinit.Params{Node: -1}
	}
	if p.TmpSize > 0 {
		if err := nodeinit.SizeTmp(p.TmpSize); err != nil {
			log.Warn("tmpsize", "err", err)
		}
	}
	// u-root's DHCP client prints every packet through the standard
	// logger; the console is for what goes wrong.
	stdlog.SetOutput(io.Discard)
	var lease nodeinit.Lease
	retry(ctx, log, "take a DHCP lease", func() (err error) {
		lease, err = nodeinit.Network(ctx, p.MAC)
		return err
	})
	log.Info("network up", "interface", lease.Interface, "lease", lease.Addr)
	master := p.Master
	if master == "" && lease.Server != nil {
		master = net.JoinHostPort(lease.Server.String(), strconv.Itoa(wire.DefaultPort))
	}
	if master == "" || p.Node < 0 {
		// Without both the node cannot be one: say so, and stay up for
		// whoever looks at the console.
		log.Error("no bproc.master= or bproc.node= on the kernel command line; this node cannot join a cluster")
		<-ctx.Done()
		select {}
	}
	// The image holds the master's host key, to pin, and no secret: the
	// node's key is made here, in memory, and the token on the kernel
	// command line (this boot's alone) lets the master pin it.
	pub, err := keys.LoadPublic(initramfs.HostKeyPath)
	if err != nil {
		log.Error("master's host key", "err", err)
		select {}
	}
	signer, keyPEM, err := nodeauth.NewNodeKey()
	if err != nil {
		log.Error("node key", "err", err)
		select {}
	}
	if p.Token == "" {
		log.Error("no bproc.token= on the kernel command line: the master will not take this node (was the script served to another address than this node's lease?)")
	}
	host := "n" + strconv.Itoa(p.Node)
	if err := setHostname(host); err != nil {
		log.Warn("hostname", "err", err)
	}
	view := &node.ViewConfig{KeyPEM: keyPEM, CacheSize: p.CacheSize}
	s := node.New(node.Config{Master: master, Node: p.Node, Key: signer, Token: p.Token, HostKey: pub, Diskless: true, View: view, TmpSize: p.TmpSize, PingInterval: 15 * time.Second, Log: log})
	for {
		s.Run(ctx) // returns only on halt or power-off, which reboot(2) ends
		log.Error("bpslave stopped; starting it again")
		time.Sleep(time.Second)
	}
}

// retry runs fn until it succeeds, saying on the console what failed and
// waiting longer each time (up to 30 s).
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) {
	wait := time.Second
	for {
		err := fn()
		if err == nil {
			return
		}
		log.Error("could not "+what+"; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
