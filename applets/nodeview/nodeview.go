// Package nodeview is the nodeview applet: a diskless node's view of the
// master's files (package nodeview), run by bpslave as a process of its
// own.
//
// Synopsis:
//
//	nodeview --master HOST:PORT --node N --host-key-data "ssh-ed25519 ..." --mount DIR --cache-dir DIR < node_key
//
// It reads the node key on stdin (on a namespace node the key file is no
// longer in reach), dials the master's files connection (wire.FilesUser),
// mounts the view at --mount, prints "ready" and serves until it is
// stopped. SIGUSR1 from bpslave says the node lost its master: the files
// connection is dropped and requests fail until SIGUSR2 says it is back. It is a process apart from bpslave because bpslave starts
// programs that live in the view: a daemon that both served a file system
// and waited on an execve reading from it could wait on itself.
package nodeview

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/node/nodeview"
)

type cli struct {
	Master      string   `required:"" placeholder:"HOST:PORT" help:"The master's node address."`
	Node        int      `required:"" help:"This node's number."`
	HostKeyData string   `required:"" placeholder:"KEY" help:"The master's host key, pinned, in authorized_keys form."`
	Mount       string   `required:"" type:"existingdir" help:"Where the view is mounted."`
	CacheDir    string   `required:"" help:"Where copies of the master's files are kept (node tmpfs)."`
	CacheSize   int64    `help:"Limit of the copies in bytes; 0 is none."`
	MountPoint  []string `help:"Master paths shown as empty directories, for the node's own file systems."`
	Upper       string   `help:"A directory of the node's own that takes what programs write; without it the view is read-only."`
}

// Main serves the view until ctx is cancelled.
func Main(ctx context.Context, args []string, std applets.IO) error {
	var c cli
	if _, err := applets.Parse("nodeview", &applets.Doc{Description: "A diskless node's view of the master's files."}, &c, args, std); err != nil {
		return err
	}
	if c.Node < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--node %d: must not be negative", c.Node)}
	}
	// Its log is bpslave's, which a namespace node shares with the master
	// that started it: a killed master's log may have lost its reader,
	// and the view must not die of a log line (SIGPIPE) while its node
	// waits for the next master.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if c.CacheSize < 0 {
		return &applets.UsageError{Err: fmt.Errorf("--cache-size %d: must not be negative", c.CacheSize)}
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.HostKeyData))
	if err != nil {
		return &applets.UsageError{Err: fmt.Errorf("--host-key-data: %w", err)}
	}
	pem, err := io.ReadAll(io.LimitReader(std.Stdin, 1<<20))
	if err != nil {
		return fmt.Errorf("nodeview: read the node key on stdin: %w", err)
	}
	key, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("nodeview: the node key on stdin: %w", err)
	}
	log := slog.New(slog.NewTextHandler(std.Stderr, nil)).With("applet", "nodeview", "node", c.Node)
	mc := &masterConn{ctx: ctx, addr: c.Master, node: c.Node, key: key, hostKey: hostKey, log: log}
	defer mc.close()
	// bpslave says when it loses and regains the master (slave.view).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGUSR1 {
				mc.masterLost()
			} else {
				mc.masterBack()
			}
		}
	}()
	peers := &peerConns{key: key}
	defer peers.close()
	v, err := nodeview.Mount(c.Mount, nodeview.Options{
		Peers: &peerClient{mc: mc, conns: peers},
		Dial:  func(uid, _ uint32) (*sftp.Client, error) { return mc.files(uid) },
		// Shown as mount points instead.
		Exclude:     []string{},
		MountPoints: c.MountPoint,
		Upper:       c.Upper,
		CacheDir:    c.CacheDir,
		CacheSize:   c.CacheSize,
		Log:         log,
	})
	if err != nil {
		return err
	}
	mc.setView(v)
	// Serve copies to other nodes, and say where, before any node asks; a
	// node that cannot still fetches everything from the master.
	if err := mc.servePeers(func(host string) (*peerServer, error) {
		return startPeerServer(host, key, hostKey, v, log)
	}); err != nil {
		log.Warn("no serving of copies to other nodes", "err", err)
	}
	fmt.Fprintln(std.Stdout, "ready")
	<-ctx.Done()
	return v.Unmount()
}
