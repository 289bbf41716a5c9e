package bproc

import (
	"context"
	"errors"
	"fmt"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// NodeChange is one change bpctl makes to nodes: set exactly one field.
type NodeChange struct {
	State  string  // StateUp, StateError or StateUnavailable
	Action string  // "reboot", "halt" or "pwroff"
	Mode   *uint32 // who may run processes: only the x bits, 0111
	UID    *uint32 // the owner
	GID    *uint32 // the group
}

// Change makes ch to each of nodes. The error joins one per node the
// master could not change ("node 3: Node is down", which errors.Is finds
// to be ErrNodeDown); the others are changed.
func (c *Client) Change(ctx context.Context, ch NodeChange, nodes ...int) error {
	r, err := c.call(ctx, localapi.Request{Op: localapi.OpCtl, Ctl: &localapi.Ctl{
		Nodes: nodes, State: ch.State, Action: ch.Action, Mode: ch.Mode, UID: ch.UID, GID: ch.GID}})
	if err != nil {
		return err
	}
	errs := make([]error, len(r.Failed))
	for i, f := range r.Failed {
		errs[i] = apiclient.FailureError(f)
	}
	return errors.Join(errs...)
}

// AddNode adds a node for mac to the master's configuration file (the
// next number after the last node line) and returns its number. Only
// root may.
func (c *Client) AddNode(ctx context.Context, mac string) (int, error) {
	r, err := c.call(ctx, localapi.Request{Op: localapi.OpAddNode, MAC: mac})
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
func (c *Client) NodeToken(ctx context.Context, node int) (string, error) {
	r, err := c.call(ctx, localapi.Request{Op: localapi.OpNodeToken, Node: &node})
	if err != nil {
		return "", err
	}
	if r.Token == "" {
		return "", fmt.Errorf("node-token %d: the master gave none", node)
	}
	return r.Token, nil
}
