// Package bpstat is the bpstat applet: node and process status.
//
// Synopsis:
//
//	bpstat [-c|-l|-a|-s|-n|-t|-p] [NODESPEC...]
//	bpstat --events [--json]
//
// Without options it prints BProc's compact table: nodes with equal state,
// mode, owner and group share a row.
package bpstat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"sort"
	"syscall"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
)

type cli struct {
	Compact bool   `short:"c" help:"Compact table (the default)."`
	Long    bool   `short:"l" help:"One line per node, with load, memory, uptime and processes."`
	Addr    bool   `short:"a" help:"Print each node's address."`
	States  bool   `short:"s" help:"Print each node's state."`
	Numbers bool   `short:"n" help:"Print node numbers."`
	Total   bool   `short:"t" help:"Print the number of nodes."`
	Reverse bool   `short:"R" help:"Reverse the order."`
	ByNum   bool   `short:"N" help:"Sort by node number (the default)."`
	ByState bool   `short:"S" help:"Sort by state."`
	Keep    bool   `short:"O" help:"Keep the order of the node specs."`
	Update  bool   `short:"U" help:"Redraw on every change, until interrupted."`
	NoInt   bool   `short:"L" help:"Ignore SIGINT and SIGTSTP."`
	Procs   bool   `short:"p" help:"Print the PID and node of every remote process."`
	PS      bool   `short:"P" help:"Read ps output on stdin and prepend a node column."`
	JSON    bool   `name:"json" help:"Machine-readable output."`
	Events  bool   `name:"events" help:"Print node state changes and remote processes' starts and ends as they happen (yours; root: everyone's), until interrupted; with --json a JSON object per line."`
	Socket  string `env:"BPROC_SOCKET" default:"${socket}" help:"bpmaster's socket."`

	Specs []string `arg:"" optional:"" help:"Node specs (default: all nodes)."`
}

// Main runs bpstat.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpstat", doc, &c, args, io, vars()); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return &applets.UsageError{Err: err}
	}
	if c.NoInt {
		signal.Ignore(syscall.SIGINT, syscall.SIGTSTP)
	}
	client, err := apiclient.Dial(c.Socket)
	if err != nil {
		return err
	}
	defer client.Close()
	switch {
	case c.Procs || c.PS:
		procs, err := client.Procs()
		if err != nil {
			return err
		}
		if c.PS {
			return prependNodes(io.Stdin, io.Stdout, procs)
		}
		if c.JSON {
			return writeJSON(io.Stdout, procs)
		}
		printProcs(io.Stdout, procs)
		return nil
	case c.Update:
		return c.watch(ctx, client, io.Stdout)
	case c.Events:
		return c.events(ctx, client, io.Stdout)
	}
	table, err := client.Nodes()
	if err != nil {
		return err
	}
	return c.print(io.Stdout, table)
}

// check rejects flags that exclude each other.
func (c *cli) check() error {
	outputs, orders := 0, 0
	for _, b := range []bool{c.Compact, c.Long, c.Addr, c.States, c.Numbers, c.Total, c.Procs, c.PS} {
		if b {
			outputs++
		}
	}
	for _, b := range []bool{c.ByNum, c.ByState, c.Keep} {
		if b {
			orders++
		}
	}
	switch {
	case outputs > 1:
		return errors.New("-c, -l, -a, -s, -n, -t, -p and -P exclude each other")
	case orders > 1:
		return errors.New("-N, -S and -O exclude each other")
	case c.Events && (outputs > 0 || orders > 0 || c.Update || c.Reverse || len(c.Specs) > 0):
		return errors.New("--events prints the event stream; it goes with --json only")
	case c.Update && (c.Procs || c.PS || c.JSON):
		return errors.New("-U redraws the node table; it does not go with -p, -P or --json")
	}
	return nil
}

// print shows the selected nodes in the chosen form.
func (c *cli) print(w io.Writer, table []localapi.NodeStatus) error {
	nodes, err := selectNodes(table, c.Specs)
	if err != nil {
		return applets.Exit(2, "%s", err)
	}
	c.sort(nodes)
	switch {
	case c.JSON:
		return writeJSON(w, nodes)
	case c.Total:
		fmt.Fprintln(w, len(nodes))
	case c.Numbers:
		for _, n := range nodes {
			fmt.Fprintln(w, n.Num)
		}
	case c.States:
		for _, n := range nodes {
			fmt.Fprintln(w, n.State)
		}
	case c.Addr:
		for _, n := range nodes {
			fmt.Fprintf(w, "%d\t%s\n", n.Num, n.Addr)
		}
	case c.Long:
		printLong(w, nodes)
	default:
		printCompact(w, nodes)
	}
	return nil
}

// sort orders the nodes: by number unless -S or -O, reversed with -R.
func (c *cli) sort(nodes []localapi.NodeStatus) {
	switch {
	case c.Keep:
	case c.ByState:
		sort.SliceStable(nodes, func(i, j int) bool {
			if nodes[i].State != nodes[j].State {
				return nodes[i].State < nodes[j].State
			}
			return nodes[i].Num < nodes[j].Num
		})
	default:
		sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Num < nodes[j].Num })
	}
	if c.Reverse {
		slices.Reverse(nodes)
	}
}

// selectNodes keeps the nodes the specs name, in table order.
func selectNodes(table []localapi.NodeStatus, specs []string) ([]localapi.NodeStatus, error) {
	if len(specs) == 0 {
		return table, nil
	}
	view := make([]nodeset.Node, len(table))
	byNum := map[int]localapi.NodeStatus{}
	for i, n := range table {
		view[i] = nodeset.Node{Num: n.Num, State: n.State, Addr: n.Addr}
		byNum[n.Num] = n
	}
	var out []localapi.NodeStatus
	for _, s := range specs {
		nums, err := nodeset.Parse(s, view)
		if err != nil {
			return nil, err
		}
		for _, num := range nums {
			if n, ok := byNum[num]; ok {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
