package bproc

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// NodeMaster is the master's node number, as BProc numbered it
// (BPROC_NODE_MASTER).
const NodeMaster = -1

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

// NumNodes is the number of nodes: one more than the highest node number,
// so that a loop up to it meets every node even where the configuration
// leaves numbers out.
func (c *Client) NumNodes() (int, error) {
	nodes, err := c.Nodes()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, nd := range nodes {
		n = max(n, nd.Num+1)
	}
	return n, nil
}

// Node is one row of the node table (BProc's bproc_nodeinfo); an error
// that is ErrInvalidNode when there is no such node.
func (c *Client) Node(num int) (localapi.NodeStatus, error) {
	nodes, err := c.Nodes()
	if err != nil {
		return localapi.NodeStatus{}, err
	}
	for _, nd := range nodes {
		if nd.Num == num {
			return nd, nil
		}
	}
	return localapi.NodeStatus{}, fmt.Errorf("node %d: %w", num, ErrInvalidNode)
}

// NodeAddr is the address node num connects to the master from. The
// master knows none for a node that has not connected since it started:
// that is ErrNodeDown.
func (c *Client) NodeAddr(num int) (netip.Addr, error) {
	nd, err := c.Node(num)
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
