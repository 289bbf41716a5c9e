package apiclient

import (
	"fmt"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// Ctl makes one change (state, action, owner, group or mode) to each of
// the nodes in c.Nodes, and returns the nodes it could not change and why
// (BProc's texts: "Operation not permitted", "Node is down", ...).
func (c *Client) Ctl(ctl localapi.Ctl) ([]localapi.NodeError, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpCtl, Ctl: &ctl})
	return r.Failed, err
}

// AddNode adds a node for mac to the master's configuration file (the
// next number after the last node line) and returns its number. Only
// root may.
func (c *Client) AddNode(mac string) (int, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpAddNode, MAC: mac})
	if err != nil {
		return 0, err
	}
	if r.Added == nil {
		return 0, fmt.Errorf("add-node %s: the master named no node", mac)
	}
	return *r.Added, nil
}

// NodeToken mints a one-time boot token for node (root only): what a
// bpslave started by hand shows at its first connection ($BPROC_TOKEN).
func (c *Client) NodeToken(node int) (string, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpNodeToken, Node: &node})
	if err != nil {
		return "", err
	}
	if r.Token == "" {
		return "", fmt.Errorf("node-token %d: the master gave none", node)
	}
	return r.Token, nil
}

// Watch waits for the next change of the node table (a minute at most) and
// returns the table then: BProc's bproc_notifier, as a call.
func (c *Client) Watch() ([]localapi.NodeStatus, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpWatch})
	return r.Nodes, err
}
