// Package bpslave is the bpslave applet: the node daemon.
//
// Synopsis:
//
//	BPROC_TOKEN=TOKEN bpslave --master HOST:PORT --node N --host-key FILE.pub [--local]
//
// It makes a key of its own in memory, dials the master with the one-time
// boot token in $BPROC_TOKEN (bpmaster hands one to each local node it
// starts; bpctl --node-token N gives one for a node started by hand), which
// pins the key for this node, says which node it is, and runs the
// processes the master sends. Every later connection signs with the key. With --local (started so by bpmaster --local-nodes) it is
// PID 1 of fresh namespaces and first builds the node's diskless root.
package bpslave

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/node"
	"github.com/bproc/bproc/internal/node/noderoot"
	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/wire"
)

type cli struct {
	Master    string        `required:"" placeholder:"HOST:PORT" help:"The master's node address."`
	Node      int           `required:"" help:"This node's number."`
	HostKey   string        `default:"/var/lib/bproc/host_key.pub" help:"The master's host key, pinned."`
	Local     bool          `help:"A namespace node of bpmaster --local-nodes: build the node root first."`
	Diskless  bool          `help:"A root without the master's files: processes see them through a view fetched as they are read (programs are pushed to the root when the view cannot be had)."`
	PushOnly  bool          `help:"With --diskless: no view of the master's files; programs are pushed to the node's root."`
	CacheSize int64         `default:"0" help:"With --diskless: limit in bytes of the copies of the master's files kept on the node; 0 is none."`
	Ping      time.Duration `default:"15s" help:"Ping interval; a master silent for two is given up."`
	TmpSize   int64         `default:"0" help:"With --local: bytes of each of the node's tmpfs (/tmp, /var/tmp, /run, /dev/shm), each user at most half (where the kernel has tmpfs quotas); 0 is half the machine's memory."`
}

// TokenEnv holds the boot token of a bpslave's first connection.
const TokenEnv = "BPROC_TOKEN"

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
	// A log whose reader is gone (the terminal or pipe of a master that
	// was killed, whose namespace nodes outlive it) must not end the
	// node: with SIGPIPE caught, a write there fails with EPIPE instead.
	// Caught, not ignored: an ignored signal would stay ignored in the
	// remote processes bpslave starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// The token is read and dropped from the environment at once: nothing
	// this node starts (nodeview, a remote process) inherits it.
	token := os.Getenv(TokenEnv)
	os.Unsetenv(TokenEnv)
	if token != "" && !nodeauth.ValidToken(token) {
		return &applets.UsageError{Err: fmt.Errorf("$%s: not a boot token (64 hex digits)", TokenEnv)}
	}
	key, keyPEM, err := nodeauth.NewNodeKey()
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
	if c.TmpSize < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--tmp-size %d: must not be negative", c.TmpSize)}
	}
	var view *node.ViewConfig
	if c.Diskless && !c.PushOnly {
		view = &node.ViewConfig{KeyPEM: keyPEM, CacheSize: c.CacheSize}
	}
	var masterLock *os.File
	if c.Local {
		// Opened before the node root hides the state directory
		// (node/orphan.go); a master older than the lock has none.
		masterLock, _ = os.Open(filepath.Join(filepath.Dir(c.HostKey), wire.MasterLockFile))
		o := noderoot.Options{
			Hostname: fmt.Sprintf("n%d", c.Node), Binary: "/proc/self/exe", MasterView: !c.Diskless,
			Warn: func(msg string) { log.Warn(msg, "node", c.Node) },
		}
		if c.TmpSize > 0 {
			o.TmpSize, o.TmpUserLimit = strconv.FormatInt(c.TmpSize, 10), strconv.FormatInt(c.TmpSize/2, 10)
		}
		if err := noderoot.Setup(o); err != nil {
			return err
		}
	}
	s := node.New(node.Config{Master: c.Master, Node: c.Node, Key: key, Token: token, HostKey: hostKey, Local: c.Local, MasterLock: masterLock, Diskless: c.Diskless, View: view, CacheSize: c.CacheSize, TmpSize: c.TmpSize, PingInterval: c.Ping, Log: log})
	return s.Run(ctx)
}
