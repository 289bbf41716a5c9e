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
	"time"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/keys"
	"github.com/bproc/bproc/noderoot"
	"github.com/bproc/bproc/slave"
)

type cli struct {
	Master   string        `required:"" placeholder:"HOST:PORT" help:"The master's node address."`
	Node     int           `required:"" help:"This node's number."`
	Key      string        `default:"/var/lib/bproc/node_key" help:"The node key."`
	HostKey  string        `default:"/var/lib/bproc/host_key.pub" help:"The master's host key, pinned."`
	Local    bool          `help:"A namespace node of bpmaster --local-nodes: build the node root first."`
	Diskless bool          `help:"With --local: a root without the master's files; programs are pushed to the node as they are run."`
	Ping     time.Duration `default:"15s" help:"Ping interval; a master silent for two is given up."`
}

// Main runs the node daemon until ctx is cancelled.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpslave", "The bproc node daemon.", &c, args, io); err != nil {
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
	if c.Local {
		if err := noderoot.Setup(noderoot.Options{
			Hostname: fmt.Sprintf("n%d", c.Node), Binary: "/proc/self/exe", MasterView: !c.Diskless,
		}); err != nil {
			return err
		}
	}
	s := slave.New(slave.Config{Master: c.Master, Node: c.Node, Key: key, HostKey: hostKey, Local: c.Local, Diskless: c.Diskless, PingInterval: c.Ping, Log: log})
	return s.Run(ctx)
}
