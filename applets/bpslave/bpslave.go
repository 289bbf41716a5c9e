// Package bpslave is the bpslave applet: the node daemon.
//
// Synopsis:
//
//	bpslave --master HOST:PORT --node N --key FILE --host-key FILE.pub [--local]
//
// It dials the master, says which node it is, and runs the processes the
// master sends. With --local (started so by bpmaster --local-nodes) it is
// PID 1 of fresh namespaces and first builds the node's diskless root.
package bpslave

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/keys"
	"github.com/bproc/bproc/noderoot"
	"github.com/bproc/bproc/slave"
)

type cli struct {
	Master    string        `required:"" placeholder:"HOST:PORT" help:"The master's node address."`
	Node      int           `required:"" help:"This node's number."`
	Key       string        `default:"/var/lib/bproc/node_key" help:"The node key."`
	HostKey   string        `default:"/var/lib/bproc/host_key.pub" help:"The master's host key, pinned."`
	Local     bool          `help:"A namespace node of bpmaster --local-nodes: build the node root first."`
	Diskless  bool          `help:"A root without the master's files: processes see them through a view fetched as they are read (programs are pushed to the root when the view cannot be had)."`
	PushOnly  bool          `help:"With --diskless: no view of the master's files; programs are pushed to the node's root."`
	CacheSize int64         `default:"0" help:"With --diskless: limit in bytes of the copies of the master's files kept on the node; 0 is none."`
	Ping      time.Duration `default:"15s" help:"Ping interval; a master silent for two is given up."`
}

// Main runs the node daemon until ctx is cancelled.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpslave", doc, &c, args, io); err != nil {
		return err
	}
	if c.Node < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--node %d: must not be negative", c.Node)}
	}
	log := slog.New(slog.NewTextHandler(io.Stderr, nil)).With("applet", "bpslave")
	key, err := keys.LoadSigner(c.Key)
	if err != nil {
		return err
	}
	hostKey, err := keys.LoadPublic(c.HostKey)
	if err != nil {
		return err
	}
	if c.CacheSize < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--cache-size %d: must not be negative", c.CacheSize)}
	}
	var view *slave.ViewConfig
	if c.Diskless && !c.PushOnly {
		// Read now: on a namespace node the file is out of reach once the
		// node's root is built.
		pem, err := os.ReadFile(c.Key)
		if err != nil {
			return fmt.Errorf("node key: %w", err)
		}
		view = &slave.ViewConfig{KeyPEM: pem, CacheSize: c.CacheSize}
	}
	if c.Local {
		if err := noderoot.Setup(noderoot.Options{
			Hostname: fmt.Sprintf("n%d", c.Node), Binary: "/proc/self/exe", MasterView: !c.Diskless,
		}); err != nil {
			return err
		}
	}
	s := slave.New(slave.Config{Master: c.Master, Node: c.Node, Key: key, HostKey: hostKey, Local: c.Local, Diskless: c.Diskless, View: view, CacheSize: c.CacheSize, PingInterval: c.Ping, Log: log})
	return s.Run(ctx)
}
