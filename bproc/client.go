// Package bproc is the Go API to a bproc cluster: the node table, the
// remote processes, and jobs, processes started on nodes whose ghosts
// (stand-ins with the remote process's PID) are children of the calling
// program. It talks to bpmaster over its unix socket, as bpsh and bpstat
// do.
//
// Every call that waits for the master takes a context.Context: when it
// ends first, the call returns its error (errors.Is(err,
// context.Canceled)). The master's errors match BProc's with errors.Is
// (ErrNodeDown, ErrInvalidNode, ...), and system errors match their
// syscall.Errno and fs.Err values.
package bproc

import (
	"context"
	"errors"
	"sync"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// ErrNoMaster wraps every failure to reach bpmaster.
var ErrNoMaster error = apiclient.ErrNoMaster

// ErrClosed is the error of a call on a closed Client.
var ErrClosed = errors.New("bproc: client closed")

// Client is a connection to bpmaster. It is safe for concurrent use:
// calls that overlap get a connection each.
type Client struct {
	socket string

	mu     sync.Mutex
	idle   *apiclient.Client // a connection no call uses, or nil
	closed bool
}

// Dial connects to bpmaster at socket ("" = $BPROC_SOCKET or the
// default, /run/bproc/master.sock; on a node, the node's relay of it).
func Dial(socket string) (*Client, error) {
	conn, err := apiclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	return &Client{socket: conn.Socket, idle: conn}, nil
}

// Socket is the path of the master's socket the Client dials.
func (c *Client) Socket() string { return c.socket }

// Close hangs up. Jobs started through c go on; they have their own
// connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.idle != nil {
		err := c.idle.Close()
		c.idle = nil
		return err
	}
	return nil
}

// conn is a connection of c's for one call: the idle one, or a new one.
func (c *Client) conn() (*apiclient.Client, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	conn := c.idle
	c.idle = nil
	c.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	return apiclient.Dial(c.socket)
}

// put gives conn back after a call; a second idle one is closed.
func (c *Client) put(conn *apiclient.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.idle != nil {
		conn.Close()
		return
	}
	c.idle = conn
}

// call sends req on a connection of c's. A call that ctx ended has had
// its connection closed (its reply is still to come): it is not put back.
func (c *Client) call(ctx context.Context, req localapi.Request) (localapi.Reply, error) {
	conn, err := c.conn()
	if err != nil {
		return localapi.Reply{}, err
	}
	reply, err := conn.Call(ctx, req)
	if ctx.Err() != nil && err != nil {
		conn.Close()
		return reply, err
	}
	c.put(conn)
	return reply, err
}
