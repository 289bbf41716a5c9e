// Package bprsh is the bprsh applet: ssh's command line, run on a node
// the way bpsh runs a command, for programs that start their remote work
// through ssh or rsh (Open MPI, clush, pdsh, GNU parallel, rsync, scp,
// sftp).
//
// Synopsis:
//
//	bprsh [OPTIONS] [USER@]NODE [--] [COMMAND [ARGS...]]
package bprsh

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"path"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/bpsh"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
	"github.com/bproc/bproc/internal/shared/wire"
)

// failed is ssh's status for its own failures, as opposed to the remote
// command's.
const failed = 255

// Main runs bprsh.
func Main(ctx context.Context, args []string, io applets.IO) error {
	go localapi.Prepare()
	if len(args) == 1 && args[0] == "--help" {
		fmt.Fprint(io.Stdout, usage())
		return nil
	}
	o, err := Parse(args)
	if err != nil {
		return applets.Exit(failed, "%s\nusage: bprsh [OPTIONS] [USER@]NODE [--] [COMMAND [ARGS...]] (bprsh --help)", err)
	}
	if o.Version {
		fmt.Fprintln(io.Stderr, "bprsh (bproc): ssh's command line, run on a node")
		return nil
	}
	me, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		return applets.Exit(failed, "who am I: %v", err)
	}
	if o.User != "" && o.User != me.Username {
		return applets.Exit(failed, "%s@%s: Permission denied (bprsh runs as the caller, %s)", o.User, o.Host, me.Username)
	}
	switch {
	case o.Config:
		fmt.Fprintf(io.Stdout, "user %s\nhostname %s\nport 22\n", me.Username, o.Host)
		return nil
	case o.Query:
		return nil
	case o.Control != "":
		return applets.Exit(failed, "-O %s: no control master (bprsh needs none)", o.Control)
	case o.Stdio != "":
		return applets.Exit(failed, "-W %s: stdio forwarding is not available", o.Stdio)
	}
	if !o.Quiet {
		for _, f := range o.Forwards {
			fmt.Fprintf(io.Stderr, "bprsh: %s: forwarding is not available; ignored\n", f)
		}
	}
	client, err := apiclient.Dial("")
	if err != nil {
		return applets.Exit(failed, "%v", err)
	}
	node, err := resolve(client, o.Host)
	if err != nil {
		client.Close()
		return applets.Exit(failed, "%v", err)
	}
	if o.NoCommand {
		client.Close()
		return waitForSignal(ctx)
	}
	rm, err := remote(o, me, node, io.Stdin)
	if err != nil {
		client.Close()
		return applets.Exit(failed, "%v", err)
	}
	if rm.TTY && !rm.ForceTTY && !isTerminal(io.Stdin) {
		rm.TTY = false
		if o.TTY == TTYYes && !o.Quiet {
			fmt.Fprintln(io.Stderr, "Pseudo-terminal will not be allocated because stdin is not a terminal.")
		}
	}
	st, ok, err := bpsh.RunRemote(ctx, client, io, rm)
	switch {
	case err != nil:
		return applets.Exit(failed, "%v", err)
	case !ok || st.Signal != 0:
		// ssh too ends with 255 when the remote command was killed.
		return applets.Status(failed)
	}
	return applets.Status(st.Code)
}

// remote is the command o asks for, as a bpsh.Remote: sshd's semantics
// (the words joined under the login shell's -c, a login shell without
// them, the sftp subsystem), run in the caller's home directory with the
// variables sshd sets, as sshd runs it.
func remote(o *Options, me *user.User, node int, stdin *os.File) (bpsh.Remote, error) {
	rm := bpsh.Remote{Name: "bprsh", Node: node, NullStdin: o.NullStdin, Quiet: o.Quiet}
	rm.Command.Dir = me.HomeDir
	if !strings.HasPrefix(rm.Command.Dir, "/") {
		rm.Command.Dir = "/"
	}
	shell := loginShell(me.Uid)
	rm.Command.Env = sessionEnv(os.Environ(), me, rm.Command.Dir, shell)
	command := o.RemoteCommand()
	switch {
	case o.Subsystem:
		if command != "sftp" {
			return rm, fmt.Errorf("subsystem %q: not available here (sftp is)", command)
		}
		rm.Command.Builtin, rm.Command.Argv = wire.BuiltinFileServer, []string{"bpcp", "--server"}
	case command == "":
		rm.Command.Path, rm.Command.Argv = shell, []string{"-" + path.Base(shell)}
	default:
		rm.Command.Path, rm.Command.Argv = shell, []string{path.Base(shell), "-c", command}
	}
	switch o.TTY {
	case TTYAuto:
		rm.TTY = command == "" && !o.Subsystem
	case TTYYes:
		rm.TTY = true
	case TTYForce:
		rm.TTY, rm.ForceTTY = true, true
	}
	if o.NullStdin && !rm.ForceTTY {
		rm.TTY = false
	}
	return rm, nil
}

// resolve finds the node host names: its number (n3, 3, .3), its
// address, or a host name that resolves to its address.
func resolve(client *apiclient.Client, host string) (int, error) {
	table, err := client.Nodes()
	if err != nil {
		return 0, err
	}
	view := make([]nodeset.Node, len(table))
	for i, n := range table {
		view[i] = nodeset.Node{Num: n.Num, State: n.State, Addr: n.Addr}
	}
	num, ok := nodeset.Host(host, view)
	if !ok {
		if num, ok = byHostName(host, view); !ok {
			return 0, fmt.Errorf("%s: no such node", host)
		}
	}
	for _, n := range table {
		if n.Num == num && n.State != "up" {
			return 0, fmt.Errorf("n%d: node is %s", num, n.State)
		}
	}
	return num, nil
}

// waitForSignal is -N: ssh runs nothing and waits to be interrupted.
func waitForSignal(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	<-ctx.Done()
	return applets.Status(failed)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
