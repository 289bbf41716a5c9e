package bproc

import (
	"context"
	"fmt"
	"syscall"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// Proc is one remote process.
type Proc struct {
	PID     int // its ghost's PID on the master, and its own
	NodePID int // its PID on the node: PID, unless that was taken there
	Node    int
	UID     uint32
	Args    []string
}

// Procs returns every remote process the master knows.
func (c *Client) Procs(ctx context.Context) ([]Proc, error) {
	r, err := c.call(ctx, localapi.Request{Op: localapi.OpProcs})
	out := make([]Proc, len(r.Procs))
	for i, p := range r.Procs {
		out[i] = Proc{PID: p.PID, NodePID: p.NodePID, Node: p.Node, UID: p.UID, Args: p.Argv}
	}
	return out, err
}

// PIDNode is the node that the remote process whose ghost has PID pid runs
// on (BProc's bproc_pidnode); an error that is ErrInvalidProcess when pid
// is no ghost's.
func (c *Client) PIDNode(ctx context.Context, pid int) (int, error) {
	procs, err := c.Procs(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		if p.PID == pid {
			return p.Node, nil
		}
	}
	return 0, fmt.Errorf("pid %d: %w", pid, ErrInvalidProcess)
}

// Signal sends sig to the remote process whose ghost has PID pid. Most
// signals reach a remote process by signalling its ghost; this is for
// SIGSTOP, which a ghost cannot catch.
func (c *Client) Signal(ctx context.Context, pid int, sig syscall.Signal) error {
	_, err := c.call(ctx, localapi.Request{Op: localapi.OpSignal, Signal: &localapi.Signal{PID: pid, Signal: int(sig)}})
	return err
}
