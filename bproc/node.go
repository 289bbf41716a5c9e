package bproc

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// NodeMaster is the master's node number, as BProc numbered it
// (BPROC_NODE_MASTER).
const NodeMaster = -1

// Node states, as BProc named them.
const (
	StateDown        = "down"
	StateBoot        = "boot"
	StateUp          = "up"
	StateError       = "error"
	StateUnavailable = "unavailable"
)

// NodeStatus is one row of the node table (BProc's bproc_nodeinfo).
type NodeStatus struct {
	Num   int
	State string // StateUp, StateDown, ...
	Addr  string // the address it connects from; "" before it first did
	// Who may start processes on it: like a file's execute bits for
	// UID and GID (see MayRun).
	UID, GID uint32
	Mode     uint32
	Procs    int  // remote processes on it now
	Local    bool // a namespace node of the master's own machine
	Kernel   string
	// What the node last reported; Stats.CPUs is 0 while it is down.
	Stats NodeStats
	// FilesSent is how many bytes of the master's files the node has
	// been sent since the master started.
	FilesSent int64
	// Reason and Since: why and since when an administrator holds the
	// node in StateError or StateUnavailable (bpctl --reason); Since
	// is zero while it is not held.
	Reason string
	Since  time.Time
}

// NodeStats is what a node reports about itself.
type NodeStats struct {
	Load     [3]float64 // 1, 5 and 15 minute load averages
	MemTotal uint64     // bytes
	MemUsed  uint64     // bytes: total less available
	Uptime   time.Duration
	CPUs     int
}

func nodeStatus(n localapi.NodeStatus) NodeStatus {
	out := NodeStatus{Num: n.Num, State: n.State, Addr: n.Addr, UID: n.UID, GID: n.GID, Mode: n.Mode,
		Procs: n.Procs, Local: n.Local, Kernel: n.Kernel, FilesSent: n.FilesSent, Reason: n.Reason}
	if n.Since != nil {
		out.Since = *n.Since
	}
	if s := n.Stats; s != nil {
		out.Stats = NodeStats{Load: s.Load, MemTotal: s.MemTotal, MemUsed: s.MemUsed,
			Uptime: time.Duration(s.Uptime * float64(time.Second)), CPUs: s.CPUs}
	}
	return out
}

func nodeStatuses(ns []localapi.NodeStatus) []NodeStatus {
	out := make([]NodeStatus, len(ns))
	for i, n := range ns {
		out[i] = nodeStatus(n)
	}
	return out
}

// CurrentNode is the node the calling program runs on: NodeMaster on the
// master, else the node that bproc started it (or an ancestor) on, which
// the master puts in $BPROC_NODE.
func CurrentNode() int {
	n, err := strconv.Atoi(os.Getenv("BPROC_NODE"))
	if err != nil || n < NodeMaster {
		return NodeMaster
	}
	return n
}

// Nodes returns the node table, ordered by node number.
func (c *Client) Nodes(ctx context.Context) ([]NodeStatus, error) {
	r, err := c.call(ctx, localapi.Request{Op: localapi.OpNodes})
	return nodeStatuses(r.Nodes), err
}

// Watch waits for the node table to differ from last (nil: for its next
// change) and returns it then: BProc's bproc_notifier, as a call. It
// waits until ctx ends, however long.
func (c *Client) Watch(ctx context.Context, last []NodeStatus) ([]NodeStatus, error) {
	for {
		// The master answers a watch at a change, or after a minute.
		r, err := c.call(ctx, localapi.Request{Op: localapi.OpWatch})
		if err != nil {
			return nil, err
		}
		now := nodeStatuses(r.Nodes)
		if last == nil || !sameTable(now, last) {
			return now, nil
		}
	}
}

func sameTable(a, b []NodeStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// NumNodes is the number of nodes: one more than the highest node number,
// so that a loop up to it meets every node even where the configuration
// leaves numbers out.
func (c *Client) NumNodes(ctx context.Context) (int, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, nd := range nodes {
		n = max(n, nd.Num+1)
	}
	return n, nil
}

// Node is one row of the node table; an error that is ErrInvalidNode
// when there is no such node.
func (c *Client) Node(ctx context.Context, num int) (NodeStatus, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return NodeStatus{}, err
	}
	for _, nd := range nodes {
		if nd.Num == num {
			return nd, nil
		}
	}
	return NodeStatus{}, fmt.Errorf("node %d: %w", num, ErrInvalidNode)
}

// NodeAddr is the address node num connects to the master from. The
// master knows none for a node that has not connected since it started:
// that is ErrNodeDown.
func (c *Client) NodeAddr(ctx context.Context, num int) (netip.Addr, error) {
	nd, err := c.Node(ctx, num)
	if err != nil {
		return netip.Addr{}, err
	}
	if nd.Addr == "" {
		return netip.Addr{}, fmt.Errorf("node %d: no address yet: %w", num, ErrNodeDown)
	}
	a, err := netip.ParseAddr(nd.Addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node %d: address %q: %w", num, nd.Addr, err)
	}
	return a, nil
}
