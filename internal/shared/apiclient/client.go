// Package apiclient speaks bpmaster's local socket in its own frames
// (package localapi): the node table, the remote processes, and run
// requests whose ghosts are children of the caller. The tools (bpsh,
// bpstat, bpctl, bpcp, bprsh) use it for what package bproc, the public
// API, does not offer (terminals, -I/-O files, builtins); bproc is built
// on it.
package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// ErrNoMaster wraps every failure to reach bpmaster.
var ErrNoMaster = errors.New("bpmaster is not running")

// Client is a connection to bpmaster for requests and replies.
type Client struct {
	Socket string
	conn   net.Conn
}

// Dial connects to bpmaster at socket ("" = $BPROC_SOCKET or the default).
// A socket that is $BPROC_SOCKET's value (what the tools' flags default
// to) is the inherited one, which a process on a node carries from its
// caller: localapi.SocketPath passes over it for the node's own when it
// is not there.
func Dial(socket string) (*Client, error) {
	if env, ok := os.LookupEnv("BPROC_SOCKET"); socket == "" || ok && socket == env {
		socket = localapi.SocketPath()
	}
	c, err := net.Dial("unix", socket)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (no one listens on %s)", ErrNoMaster, socket)
		}
		return nil, fmt.Errorf("connect to bpmaster at %s: %w", socket, err)
	}
	return &Client{Socket: socket, conn: c}, nil
}

// Close hangs up.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(req localapi.Request) (localapi.Reply, error) {
	return c.Call(context.Background(), req)
}

// Call sends req and reads the reply; a reply's error is the master's
// (see NewError). When ctx ends first, Call returns its error, and the
// connection, whose reply is still to come, is closed.
func (c *Client) Call(ctx context.Context, req localapi.Request) (localapi.Reply, error) {
	return c.callWith(ctx, req, nil)
}

// callWith is Call that runs sent, if not nil, once the request is on its
// way, while the master works on it.
func (c *Client) callWith(ctx context.Context, req localapi.Request, sent func()) (localapi.Reply, error) {
	var reply localapi.Reply
	err := c.exchange(ctx, req, &reply, sent)
	if err != nil {
		if ctx.Err() != nil {
			c.conn.Close()
			return reply, fmt.Errorf("%s: %w", req.Op, ctx.Err())
		}
		return reply, fmt.Errorf("%s: %w", req.Op, err)
	}
	if reply.Error != "" {
		return reply, &masterError{reply.Error, reply.Code}
	}
	return reply, nil
}

// exchange writes req and reads the reply; ctx's end breaks it off by
// putting the connection's deadline in the past, which a reply that came
// first takes back.
func (c *Client) exchange(ctx context.Context, req localapi.Request, reply *localapi.Reply, sent func()) error {
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.conn.SetDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
				c.conn.SetDeadline(time.Time{})
			}
		}()
	}
	if err := localapi.WriteFrame(c.conn, req); err != nil {
		return err
	}
	if sent != nil {
		sent()
	}
	return localapi.ReadFrame(c.conn, reply)
}

// Nodes returns the node table, ordered by node number.
func (c *Client) Nodes() ([]localapi.NodeStatus, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpNodes})
	return r.Nodes, err
}

// Procs returns every remote process the master knows.
func (c *Client) Procs() ([]localapi.Proc, error) {
	r, err := c.call(localapi.Request{Op: localapi.OpProcs})
	return r.Procs, err
}

// Lost says which of the caller's ghosts pids the master ended as lost
// with their node while no client of theirs was connected (OpLost), in
// requests of at most localapi.MaxLost. An error (a master from before
// OpLost) says nothing of any.
func (c *Client) Lost(pids []int) ([]int, error) {
	var lost []int
	for len(pids) > 0 {
		n := min(len(pids), localapi.MaxLost)
		r, err := c.call(localapi.Request{Op: localapi.OpLost, PIDs: pids[:n]})
		if err != nil {
			return nil, err
		}
		lost = append(lost, r.Lost...)
		pids = pids[n:]
	}
	return lost, nil
}

// Signal sends sig to the remote process whose ghost has PID pid. Most
// signals reach a remote process by signalling its ghost; this is for
// SIGSTOP, which a ghost cannot catch.
func (c *Client) Signal(pid int, sig syscall.Signal) error {
	_, err := c.call(localapi.Request{Op: localapi.OpSignal, Signal: &localapi.Signal{PID: pid, Signal: int(sig)}})
	return err
}
