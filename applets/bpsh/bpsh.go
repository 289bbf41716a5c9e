// Package bpsh is the bpsh applet: run a command on nodes.
//
// Synopsis:
//
//	bpsh [OPTIONS] NODESPEC COMMAND [ARGS...]
//	bpsh -a|-A|-1 [OPTIONS] COMMAND [ARGS...]
//
// The command is looked up in PATH here, on the master; every remote process
// has a ghost that is a child of bpsh, so signals, job control and exit
// statuses work as they do for local processes.
package bpsh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
	"github.com/bproc/bproc/internal/shared/wire"
)

// cli is bpsh's flags, BProc's letters first.
type cli struct {
	All        bool   `short:"a" help:"All nodes that are up."`
	AllNotDown bool   `short:"A" help:"All nodes that are not down."`
	OnMaster   bool   `short:"1" name:"master" help:"Run on the master (node -1)."`
	Login      string `short:"l" placeholder:"USER" help:"Ignored (rsh compatibility)."`
	NullStdin  bool   `short:"n" help:"Read stdin from /dev/null."`
	NoIO       bool   `short:"N" help:"No I/O forwarding: the remote 0, 1 and 2 are /dev/null on the node."`
	Line       bool   `short:"L" help:"Line-buffer output."`
	Prefix     bool   `short:"p" help:"Prefix each line with the node number (implies -L)."`
	Sequential bool   `short:"s" help:"Show each node's output in node-list order."`
	Divider    bool   `short:"d" help:"A divider line before each node's output (implies -s)."`
	BufSize    int    `short:"b" default:"${bufsize}" placeholder:"N" help:"I/O buffer size, also the longest line."`
	StdinFile  string `short:"I" placeholder:"FILE" help:"Open FILE on the node as stdin."`
	StdoutFile string `short:"O" placeholder:"FILE" help:"Open FILE on the node as stdout."`
	StderrFile string `short:"E" placeholder:"FILE" help:"Open FILE on the node as stderr."`
	Time       bool   `short:"t" help:"Print the elapsed seconds when done."`
	TTY        bool   `short:"T" name:"tty" help:"Run under a pseudo-terminal on the node (interactive programs)."`
	PerNode    int    `name:"per-node" default:"${pernode}" placeholder:"K" help:"Start K copies on each node, each with its own ghost and BPROC_RANK."`
	PMI        bool   `name:"pmi" help:"Serve PMI-1 and PMI-2 to the ranks (MPICH, MVAPICH, Intel MPI): PMI_PORT, PMI_ID, PMI_RANK, PMI_SIZE; a rank that fails or aborts ends the job."`
	Gather     bool   `name:"gather" help:"Fold identical output of many nodes into one block headed by its node set, then say which nodes failed and how."`
	Socket     string `env:"BPROC_SOCKET" default:"${socket}" help:"bpmaster's socket."`

	Args []string `arg:"" optional:"" passthrough:"partial" help:"NODESPEC COMMAND [ARGS...]"`
}

// Main runs bpsh.
func Main(ctx context.Context, args []string, io applets.IO) error {
	tm := startTiming()
	defer tm.report(io.Stderr)
	go localapi.Prepare()
	sigs, stop := catch()
	defer stop()
	var c cli
	if err := c.parse(args, io); err != nil {
		return err
	}
	spec, argv, err := c.split()
	if err != nil {
		return &applets.UsageError{Err: err}
	}
	if c.BufSize < 1 || c.BufSize > 1<<24 {
		return &applets.UsageError{Err: fmt.Errorf("-b %d: want 1 to %d", c.BufSize, 1<<24)}
	}
	if c.PerNode < 1 || c.PerNode > maxPerNode {
		return &applets.UsageError{Err: fmt.Errorf("--per-node %d: want 1 to %d", c.PerNode, maxPerNode)}
	}
	path, err := lookPath(argv[0])
	if err != nil {
		code := 127
		if errors.Is(err, syscall.EISDIR) {
			code = 126 // as a shell says it
		}
		return applets.Exit(code, "%s", err)
	}
	tm.mark("parsed")
	client, err := apiclient.Dial(c.Socket)
	if err != nil {
		return err
	}
	tm.mark("connected")
	dir, err := os.Getwd()
	if err != nil {
		dir = "/"
	}
	cmd := wire.Command{
		Path: path, Argv: argv, Env: os.Environ(), Dir: dir,
		NoIO: c.NoIO, StdinFile: c.StdinFile, StdoutFile: c.StdoutFile, StderrFile: c.StderrFile,
	}
	r := &runner{cli: c, io: io, client: client, cmd: cmd, sigs: sigs, tm: tm}
	if nums, elems, ok := nodeset.Numbers(spec); ok {
		// Node numbers need no table: the master's answer to the run
		// request says which are no nodes, and a round trip is saved.
		r.nodes, r.elems = c.repeat(nums), elems
	} else {
		table, err := client.Nodes()
		if err != nil {
			client.Close()
			return err
		}
		if r.nodes, err = c.nodes(spec, table); err != nil {
			client.Close()
			return applets.Exit(2, "%s", err)
		}
	}
	code, err := r.run(ctx)
	if err != nil {
		return err
	}
	if sig := r.deathSignal(); sig != 0 {
		dieOf(sig)
	}
	return applets.Status(code)
}

// split separates the node spec from the command.
func (c *cli) split() (spec string, argv []string, err error) {
	picks := 0
	for _, b := range []bool{c.All, c.AllNotDown, c.OnMaster} {
		if b {
			picks++
		}
	}
	if picks > 1 {
		return "", nil, errors.New("-a, -A and -1 exclude each other")
	}
	args := c.Args
	if picks == 0 {
		if len(args) == 0 {
			return "", nil, errors.New("missing node spec and command")
		}
		spec, args = args[0], args[1:]
	}
	if len(args) == 0 {
		return "", nil, errors.New("missing command")
	}
	if c.Divider || c.Gather {
		c.Sequential = true
	}
	if c.Prefix {
		c.Line = true
	}
	return spec, args, nil
}

// nodes turns the spec or -a/-A/-1 into node numbers, in order.
func (c *cli) nodes(spec string, table []localapi.NodeStatus) ([]int, error) {
	switch {
	case c.All:
		spec = "allup"
	case c.AllNotDown:
		spec = "allnotdown"
	case c.OnMaster:
		return c.repeat([]int{nodeset.Master}), nil
	}
	view := make([]nodeset.Node, len(table))
	for i, n := range table {
		view[i] = nodeset.Node{Num: n.Num, State: n.State, Addr: n.Addr}
	}
	nums, err := nodeset.Parse(spec, view)
	if err != nil {
		return nil, err
	}
	if len(nums) == 0 {
		return nil, fmt.Errorf("no nodes match %q", spec)
	}
	return c.repeat(nums), nil
}

// maxPerNode bounds --per-node: each copy is a process here (its ghost)
// and one on the node.
const maxPerNode = 100000

// repeat gives each node --per-node entries in a row: ranks 0..K-1 on the
// first node, K..2K-1 on the next, and so on.
func (c *cli) repeat(nums []int) []int {
	if c.PerNode <= 1 {
		return nums
	}
	out := make([]int, 0, len(nums)*c.PerNode)
	for _, n := range nums {
		for range c.PerNode {
			out = append(out, n)
		}
	}
	return out
}

// lookPath resolves the command in the caller's PATH and cwd, as a shell
// would, to an absolute path. A path with a slash is taken as it is, even
// when the caller may not run it: whoever runs it says why not (126), as
// a shell does. A path in a node's own directories (its /tmp) that is not
// here is passed on.
func lookPath(name string) (string, error) {
	p := name
	if !strings.Contains(name, "/") {
		var err error
		p, err = exec.LookPath(name)
		if err != nil && !errors.Is(err, exec.ErrDot) {
			return "", fmt.Errorf("%s: command not found", name)
		}
	}
	if !strings.HasPrefix(p, "/") {
		var err error
		if p, err = filepath.Abs(p); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
	}
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist) && wire.NodeOwn(filepath.Clean(p), false):
		// A node's /tmp is its own: a program made there, which the
		// master has not, is the node's to run (or to say it has none).
		return filepath.Clean(p), nil
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s: no such file or directory", name)
	case err == nil && st.IsDir():
		return "", fmt.Errorf("%s: %w", name, syscall.EISDIR)
	}
	return p, nil
}
