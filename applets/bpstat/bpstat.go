// Package bpstat is the bpstat applet: node and process status.
//
// Synopsis:
//
//	bpstat [-c|-l|-a|-s|-n|-t|-p] [NODESPEC...]
//
// Without options it prints BProc's compact table: nodes with equal state,
// mode, owner and group share a row.
package bpstat

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/bproc"
	"github.com/bproc/bproc/localapi"
	"github.com/bproc/bproc/nodeset"
)

type cli struct {
	Compact bool   `short:"c" help:"Compact table (the default)."`
	Long    bool   `short:"l" help:"One line per node."`
	Addr    bool   `short:"a" help:"Print each node's address."`
	States  bool   `short:"s" help:"Print each node's state."`
	Numbers bool   `short:"n" help:"Print node numbers."`
	Total   bool   `short:"t" help:"Print the number of nodes."`
	Procs   bool   `short:"p" help:"Print the PID and node of every remote process."`
	Socket  string `env:"BPROC_SOCKET" default:"${socket}" help:"bpmaster's socket."`

	Specs []string `arg:"" optional:"" help:"Node specs (default: all nodes)."`
}

// Main runs bpstat.
func Main(ctx context.Context, args []string, io applets.IO) error {
	var c cli
	if _, err := applets.Parse("bpstat", "Node and process status.", &c, args, io,
		kong.Vars{"socket": localapi.DefaultSocket}); err != nil {
		return err
	}
	client, err := bproc.Dial(c.Socket)
	if err != nil {
		return err
	}
	defer client.Close()
	if c.Procs {
		procs, err := client.Procs()
		if err != nil {
			return err
		}
		printProcs(io.Stdout, procs)
		return nil
	}
	table, err := client.Nodes()
	if err != nil {
		return err
	}
	nodes, err := selectNodes(table, c.Specs)
	if err != nil {
		return applets.Exit(2, "%s", err)
	}
	switch {
	case c.Total:
		fmt.Fprintln(io.Stdout, len(nodes))
	case c.Numbers:
		for _, n := range nodes {
			fmt.Fprintln(io.Stdout, n.Num)
		}
	case c.States:
		for _, n := range nodes {
			fmt.Fprintln(io.Stdout, n.State)
		}
	case c.Addr:
		for _, n := range nodes {
			fmt.Fprintf(io.Stdout, "%d\t%s\n", n.Num, n.Addr)
		}
	case c.Long:
		printLong(io.Stdout, nodes)
	default:
		printCompact(io.Stdout, nodes)
	}
	return nil
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

// modeString shows only the execute bits, as BProc did: ---x--x--x.
func modeString(m uint32) string {
	b := []byte("----------")
	for i, bit := range []uint32{0o100, 0o010, 0o001} {
		if m&bit != 0 {
			b[3+3*i] = 'x'
		}
	}
	return string(b)
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return fmt.Sprintf("#%d", uid)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return fmt.Sprintf("#%d", gid)
}

func printCompact(w io.Writer, nodes []localapi.NodeStatus) {
	type key struct {
		state          string
		mode, uid, gid uint32
	}
	groups := map[key][]int{}
	var order []key
	for _, n := range nodes {
		k := key{n.State, n.Mode, n.UID, n.GID}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], n.Num)
	}
	fmt.Fprintf(w, "%-35s%-16s%-11s%-9s%s\n", "Node(s)", "Status", "Mode", "User", "Group")
	for _, k := range order {
		fmt.Fprintf(w, "%-35s%-16s%-11s%-9s%s\n", nodeset.Format(groups[k]), k.state, modeString(k.mode), userName(k.uid), groupName(k.gid))
	}
}

func printLong(w io.Writer, nodes []localapi.NodeStatus) {
	fmt.Fprintf(w, "Node Address         Status       Mode          User       Group\n")
	for _, n := range nodes {
		fmt.Fprintf(w, "%4d %-15s %-12s %s\t%-10.10s %-10.10s\n", n.Num, n.Addr, n.State, modeString(n.Mode), userName(n.UID), groupName(n.GID))
	}
}

func printProcs(w io.Writer, procs []localapi.Proc) {
	sort.Slice(procs, func(i, j int) bool { return procs[i].PID < procs[j].PID })
	fmt.Fprintf(w, "%-8s %-5s %s\n", "PID", "Node", "Command")
	for _, p := range procs {
		fmt.Fprintf(w, "%-8d %-5d %s\n", p.PID, p.Node, strings.Join(p.Argv, " "))
	}
}
