package bproc

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/localapi/localapitest"
)

var table = localapi.Reply{Nodes: []localapi.NodeStatus{
	{Num: 0, State: "up", Addr: "127.0.0.1", Mode: 0o111},
	{Num: 2, State: "down", Addr: "fd00::2", UID: 1000, GID: 100, Mode: 0o100},
	{Num: 3, State: "boot", Mode: 0o100},
}}

func TestNodeLookups(t *testing.T) {
	ctx := t.Context()
	c := dialFake(t, map[string]localapi.Reply{
		localapi.OpNodes: table,
		localapi.OpProcs: {Procs: []localapi.Proc{{PID: 100, NodePID: 100, Node: 2}, {PID: 101, NodePID: 7, Node: 0}}},
	})
	if n, err := c.NumNodes(ctx); n != 4 || err != nil {
		t.Errorf("NumNodes() = %d, %v, want 4", n, err)
	}
	if nd, err := c.Node(ctx, 2); nd.UID != 1000 || nd.State != "down" || err != nil {
		t.Errorf("Node(2) = %+v, %v", nd, err)
	}
	if _, err := c.Node(ctx, 1); !errors.Is(err, ErrInvalidNode) || err.Error() != "node 1: Invalid node number" {
		t.Errorf("Node(1) = %v, want node 1: Invalid node number", err)
	}
	for _, tc := range []struct {
		num  int
		want netip.Addr
		err  error
	}{
		{0, netip.MustParseAddr("127.0.0.1"), nil},
		{2, netip.MustParseAddr("fd00::2"), nil},
		{3, netip.Addr{}, ErrNodeDown},
		{1, netip.Addr{}, ErrInvalidNode},
	} {
		if a, err := c.NodeAddr(ctx, tc.num); a != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NodeAddr(%d) = %v, %v, want %v, %v", tc.num, a, err, tc.want, tc.err)
		}
	}
	if n, err := c.PIDNode(ctx, 100); n != 2 || err != nil {
		t.Errorf("PIDNode(100) = %d, %v, want 2", n, err)
	}
	if _, err := c.PIDNode(ctx, 5); !errors.Is(err, ErrInvalidProcess) {
		t.Errorf("PIDNode(5) = %v, want ErrInvalidProcess", err)
	}
	if err := c.Access(ctx, NodeMaster); err != nil {
		t.Errorf("Access(NodeMaster) = %v", err)
	}
	if err := c.Access(ctx, 3); !errors.Is(err, ErrNodeDown) {
		t.Errorf("Access(3) = %v, want ErrNodeDown", err)
	}
}

func TestMasterErrors(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		text string
		want error
	}{
		{"Invalid node number", ErrInvalidNode},
		{"signal 7: Invalid process ID", ErrInvalidProcess},
		{"Slave node died", ErrSlaveDied},
		{"Node is unavailable", ErrNodeDown},
		{"add-node: Permission denied (root only)", fs.ErrPermission},
		{"signal 7: operation not permitted", syscall.EPERM},
	} {
		c := dialFake(t, map[string]localapi.Reply{localapi.OpNodes: {Error: tc.text}})
		_, err := c.Nodes(ctx)
		if !errors.Is(err, tc.want) || err.Error() != tc.text {
			t.Errorf("reply error %q: Nodes() = %v, want %v with the same text", tc.text, err, tc.want)
		}
	}
	c := dialFake(t, map[string]localapi.Reply{localapi.OpNodes: {Error: "ctl: unknown state"}})
	if _, err := c.Nodes(ctx); errors.Is(err, ErrNodeDown) || errors.Is(err, fs.ErrPermission) || err == nil {
		t.Errorf("reply error of no meaning: Nodes() = %v", err)
	}
}

func TestMayRun(t *testing.T) {
	const alice, bob, staff = 1000, 1001, 50
	for _, tc := range []struct {
		name string
		node NodeStatus
		id   Identity
		want error
	}{
		{"everyone", NodeStatus{State: "up", Mode: 0o111}, Identity{UID: bob}, nil},
		{"owner only, as owner", NodeStatus{State: "up", UID: alice, Mode: 0o100}, Identity{UID: alice}, nil},
		{"owner only, as other", NodeStatus{State: "up", UID: alice, Mode: 0o100}, Identity{UID: bob}, fs.ErrPermission},
		{"owner barred, others not", NodeStatus{State: "up", UID: alice, Mode: 0o011}, Identity{UID: alice}, fs.ErrPermission},
		{"group, primary", NodeStatus{State: "up", UID: alice, GID: staff, Mode: 0o110}, Identity{UID: bob, GID: staff}, nil},
		{"group, supplementary", NodeStatus{State: "up", UID: alice, GID: staff, Mode: 0o010}, Identity{UID: bob, GID: bob, Groups: []uint32{staff}}, nil},
		{"group barred", NodeStatus{State: "up", GID: staff, Mode: 0o101}, Identity{UID: bob, GID: staff}, fs.ErrPermission},
		{"root", NodeStatus{State: "up", UID: alice, Mode: 0}, Identity{UID: 0}, nil},
		{"down", NodeStatus{State: "down", Mode: 0o111}, Identity{UID: 0}, ErrNodeDown},
		{"boot", NodeStatus{State: "boot", Mode: 0o111}, Identity{UID: bob}, ErrNodeDown},
		{"unavailable, user", NodeStatus{State: "unavailable", Mode: 0o111}, Identity{UID: bob}, ErrNodeDown},
		{"unavailable, root", NodeStatus{State: "unavailable", Mode: 0}, Identity{UID: 0}, nil},
		{"error, user", NodeStatus{State: "error", Mode: 0o111}, Identity{UID: bob}, ErrNodeDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := MayRun(tc.node, tc.id)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("MayRun(%+v, %+v) = %v, want %v", tc.node, tc.id, err, tc.want)
			}
		})
	}
}

func TestCurrentNode(t *testing.T) {
	for env, want := range map[string]int{"": NodeMaster, "-1": NodeMaster, "3": 3, "3x": NodeMaster, "-5": NodeMaster} {
		t.Setenv("BPROC_NODE", env)
		if got := CurrentNode(); got != want {
			t.Errorf("CurrentNode() with BPROC_NODE=%q = %d, want %d", env, got, want)
		}
	}
}

// Change's error names each node it could not change, with BProc's
// meaning kept.
func TestChange(t *testing.T) {
	c := dialFake(t, map[string]localapi.Reply{localapi.OpCtl: {Failed: []localapi.NodeError{
		{Node: 4, Error: "Operation not permitted"}, localapi.Failure(5, localapi.ErrNodeDown)}}})
	err := c.Change(t.Context(), NodeChange{State: StateUp}, 3, 4, 5)
	if !errors.Is(err, syscall.EPERM) || !errors.Is(err, ErrNodeDown) || err.Error() != "node 4: Operation not permitted\nnode 5: Node is down" {
		t.Errorf("Change = %q, want node 4: EPERM and node 5: ErrNodeDown", err)
	}
	c = dialFake(t, map[string]localapi.Reply{})
	if err := c.Change(t.Context(), NodeChange{State: StateUp}, 3); err != nil {
		t.Errorf("Change with no failures = %v", err)
	}
}

// TestCallContext: a call whose context ends returns at once with its
// error, though the master has not answered, and the Client goes on.
func TestCallContext(t *testing.T) {
	sock := localapitest.Master(t, func(localapi.Request) localapi.Reply { return table }, localapi.OpWatch)
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Watch(ctx, nil); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Watch with a 200 ms deadline: %v after %v", err, time.Since(start))
	}
	for range 3 {
		if nodes, err := c.Nodes(t.Context()); err != nil || len(nodes) != 3 {
			t.Errorf("Nodes after a cancelled Watch: %v, %v", nodes, err)
		}
	}
	// A context that ends after its answer came leaves the connection
	// as it was.
	ctx, cancel = context.WithCancel(t.Context())
	if _, err := c.Nodes(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := c.Nodes(t.Context()); err != nil {
		t.Errorf("Nodes after a context ended late: %v", err)
	}
	c.Close()
	if _, err := c.Nodes(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Nodes after Close: %v, want ErrClosed", err)
	}
}
