package bproc_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/bproc/bproc/bproc"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/localapi/localapitest"
)

// The examples ask a master of four nodes that TestMain answers for on
// exampleSocket (a real program dials "", $BPROC_SOCKET or the default).
var exampleSocket string

// exampleReplies: nodes 0-2 up (1 owned by uid 1000, mode 0100), 3 down;
// one remote process on node 2 whose PID was taken there.
var exampleReplies = map[string]localapi.Reply{
	localapi.OpNodes: {Nodes: []localapi.NodeStatus{
		{Num: 0, State: "up", Mode: 0o111, Addr: "10.0.0.10"},
		{Num: 1, State: "up", UID: 1000, GID: 1000, Mode: 0o100, Addr: "10.0.0.11"},
		{Num: 2, State: "up", Mode: 0o111, Addr: "10.0.0.12", Procs: 1},
		{Num: 3, State: "down", Mode: 0o111, Addr: "10.0.0.13"},
	}},
	localapi.OpProcs: {Procs: []localapi.Proc{{PID: 4242, NodePID: 4243, Node: 2, UID: 1000, Argv: []string{"solver", "--in", "data.bin"}}}},
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bproc-example-")
	if err != nil {
		log.Fatal(err)
	}
	exampleSocket = filepath.Join(dir, "master.sock")
	l, err := net.Listen("unix", exampleSocket)
	if err != nil {
		log.Fatal(err)
	}
	go localapitest.Serve(l, localapitest.Replies(exampleReplies))
	code := m.Run()
	l.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The node table, as bpstat shows it, and what a user may use of it.
func ExampleClient_Nodes() {
	c, err := bproc.Dial(exampleSocket)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	alice := bproc.Identity{UID: 1000, GID: 1000}
	bob := bproc.Identity{UID: 1001, GID: 1001}
	for _, n := range nodes {
		fmt.Printf("%d %-5s %s alice: %v, bob: %v\n", n.Num, n.State, n.Addr, bproc.MayRun(n, alice), bproc.MayRun(n, bob))
	}
	// Output:
	// 0 up    10.0.0.10 alice: <nil>, bob: <nil>
	// 1 up    10.0.0.11 alice: <nil>, bob: Permission denied
	// 2 up    10.0.0.12 alice: <nil>, bob: <nil>
	// 3 down  10.0.0.13 alice: Node is down, bob: Node is down
}

// How many nodes there are, and where one is.
func ExampleClient_NodeAddr() {
	c, err := bproc.Dial(exampleSocket)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	n, _ := c.NumNodes(ctx)
	addr, _ := c.NodeAddr(ctx, 2)
	_, err = c.NodeAddr(ctx, 7)
	fmt.Println(n, addr, err)
	// Output: 4 10.0.0.12 node 7: Invalid node number
}

// The remote processes, from the master's own table: each one's ghost
// PID (what ps, kill and wait know here), its PID on its node, and where
// it runs (BProc's bproc_pidnode).
func ExampleClient_Procs() {
	c, err := bproc.Dial(exampleSocket)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	procs, err := c.Procs(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range procs {
		fmt.Printf("ghost %d is %d on node %d: %v\n", p.PID, p.NodePID, p.Node, p.Args)
	}
	node, _ := c.PIDNode(ctx, 4242)
	_, err = c.PIDNode(ctx, 1)
	fmt.Println(node, err)
	// Output:
	// ghost 4242 is 4243 on node 2: [solver --in data.bin]
	// 2 pid 1: Invalid process ID
}

// A program of the master's on nodes 0 and 2, whose ghosts are children
// of this program: Wait returns each remote status, Signal reaches each
// remote process. (Not run here: it needs a master with nodes.)
func ExampleClient_VExecMove() {
	c, err := bproc.Dial("")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	procs, err := c.VExecMove(ctx, []int{0, 2}, "/usr/bin/hostname", nil, os.Environ(), [3]*os.File{nil, os.Stdout, os.Stderr})
	if err != nil {
		log.Print(err) // "rank I (node N): reason" for each node where it did not start
	}
	for _, p := range procs {
		if p == nil {
			continue
		}
		st, _ := p.Wait()
		fmt.Println(p.Pid, st)
	}
}
