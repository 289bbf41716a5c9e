package bproc

import (
	"github.com/bproc/bproc/localapi"
)

// Ctl makes one change (state, action, owner, group or mode) to each of
// the nodes in c.Nodes, and returns the nodes it could not change and why
// (BProc's texts: "Operation not permitted", "Node is down", ...).
func (c *Client) Ctl(ctl localapi.Ctl) ([]localapi.NodeError, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpCtl, Ctl: &ctl})
	return r.Failed, err
}

// Watch waits for the next change of the node table (a minute at most) and
// returns the table then: BProc's bproc_notifier, as a call.
func (c *Client) Watch() ([]localapi.NodeStatus, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpWatch})
	return r.Nodes, err
}
