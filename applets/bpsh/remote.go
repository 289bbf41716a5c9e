package bpsh

import (
	"context"
	"fmt"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Remote is one command on one node, run as bpsh runs one (its ghost,
// its signals, its stdio handed on as they are): bprsh's run, which only
// reads an ssh command line differently.
type Remote struct {
	Name    string // the applet, for messages: "bprsh: n3: node is down"
	Node    int
	Command wire.Command // Path or Builtin, Argv, Env, Dir
	// NullStdin: stdin from /dev/null (ssh -n).
	NullStdin bool
	// TTY: a pseudo-terminal on the node; ForceTTY: even when stdin is
	// no terminal here (ssh -tt), whose modes are then left alone.
	TTY, ForceTTY bool
	Quiet         bool // no warnings (ssh -q)
}

// RunRemote runs rm with client, which it closes. ok is false when the
// process did not run or was lost (why is already printed); otherwise st
// is how it ended.
func RunRemote(ctx context.Context, client *apiclient.Client, io applets.IO, rm Remote) (st wire.ExitStatus, ok bool, err error) {
	sigs, stop := catch()
	defer stop()
	c := cli{NullStdin: rm.NullStdin, TTY: rm.TTY, BufSize: defaultBufSize, PerNode: defaultPerNode}
	r := &runner{cli: c, io: io, client: client, cmd: rm.Command, nodes: []int{rm.Node}, sigs: sigs, ssh: &rm}
	if _, err := r.run(ctx); err != nil {
		return st, false, err
	}
	rk := r.ranks[0]
	if !rk.reaped || rk.errText != "" && !rk.started {
		return st, false, nil
	}
	return wire.FromWait(rk.ws), true, nil
}

// rankError says why a rank did not run or was lost.
func (r *runner) rankError(node int, text string) {
	if r.ssh != nil {
		fmt.Fprintf(r.errW, "%s: n%d: %s\n", r.ssh.Name, node, text)
		return
	}
	fmt.Fprintf(r.errW, "%d: %s\n", node, text)
}

// warn passes on what the node warns of.
func (r *runner) warn(node int, text string) {
	switch {
	case r.ssh == nil:
		fmt.Fprintf(r.errW, "bpsh: node %d: %s\n", node, text)
	case !r.ssh.Quiet:
		fmt.Fprintf(r.errW, "%s: n%d: %s\n", r.ssh.Name, node, text)
	}
}
