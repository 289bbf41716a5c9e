package apiclient

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// Job is one run request: a rank per node entry, each started by a ghost
// that is a child of the calling program.
type Job struct {
	Ranks []localapi.Rank
	// Events are the master's events, in order; closed when the master
	// hangs up. The socket is read whether or not anyone reads Events
	// (they queue without bound, a few dozen bytes each): the master's
	// send must never wait for the caller, or ghosts stop being told
	// their status and no longer exit.
	Events <-chan localapi.Event

	c *Client
	// ghosts starts the ranks' ghosts: they all run the job's argv, so
	// they share one address space (see ghost.Group).
	ghosts *ghost.Group
}

// Run asks the master for the ranks of r. Ranks with an Error cannot run;
// for the others, StartGhost starts the process. The Job owns c.
func (c *Client) Run(r localapi.Run) (*Job, error) {
	return c.RunContext(context.Background(), r)
}

// RunContext is Run whose request ends when ctx does.
func (c *Client) RunContext(ctx context.Context, r localapi.Run) (*Job, error) {
	return c.run(ctx, r, &ghost.Group{Argv: r.Argv, Socket: c.Socket}, nil)
}

// run asks for r's ranks, whose ghosts g starts; sent runs while the
// master works on the request.
func (c *Client) run(ctx context.Context, r localapi.Run, g *ghost.Group, sent func()) (*Job, error) {
	reply, err := c.callWith(ctx, localapi.Request{Op: localapi.OpRun, Run: &r}, sent)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if len(reply.Ranks) != len(r.Nodes) {
		return nil, fmt.Errorf("run: master answered %d ranks for %d nodes", len(reply.Ranks), len(r.Nodes))
	}
	in := make(chan localapi.Event)
	go func() {
		defer close(in)
		for {
			var ev localapi.Event
			if err := localapi.ReadFrame(c.conn, &ev); err != nil {
				return
			}
			in <- ev
		}
	}()
	return &Job{Ranks: reply.Ranks, Events: unbounded(in), c: c, ghosts: g}, nil
}

// unbounded passes on what comes in, in order, holding what the reader
// has not taken yet, so that the sender never waits; closed after in is
// and all is taken. A queue nobody reads lives as long as the program.
func unbounded[T any](in <-chan T) <-chan T {
	out := make(chan T)
	go func() {
		defer close(out)
		var queue []T
		for in != nil || len(queue) > 0 {
			var send chan T
			var next T
			if len(queue) > 0 {
				send, next = out, queue[0]
			}
			select {
			case v, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				queue = append(queue, v)
			case send <- next:
				var zero T
				queue[0] = zero
				queue = queue[1:]
			}
		}
	}()
	return out
}

// StartGhost starts rank i: its ghost (a child of this process, whose PID
// the remote process will have) with files as its stdin, stdout and stderr.
func (j *Job) StartGhost(i int, files [3]*os.File) (int, error) {
	tok, err := j.rankToken(i)
	if err != nil {
		return 0, err
	}
	return j.ghosts.Start(tok, files)
}

// rankToken is rank i's token, or why it has none to start.
func (j *Job) rankToken(i int) (ghost.Token, error) {
	if i < 0 || i >= len(j.Ranks) {
		return ghost.Token{}, fmt.Errorf("rank %d: the job has ranks 0 to %d", i, len(j.Ranks)-1)
	}
	r := j.Ranks[i]
	if err := RankError(r); err != nil {
		return ghost.Token{}, fmt.Errorf("%d: %w", r.Node, err)
	}
	tok, err := ghost.ParseToken(r.Token)
	if err != nil {
		return ghost.Token{}, fmt.Errorf("rank %d: %w", i, err)
	}
	return tok, nil
}

// Attach joins a stream (localapi.StreamInOut or StreamErr) of rank i,
// whose ghost the master started itself (its Rank.PID is set: the caller
// runs on a node), to a new connection, which carries the stream's bytes
// from then on: what is written is the rank's stdin, what is read its
// output.
func (j *Job) Attach(i, stream int) (net.Conn, error) {
	if i < 0 || i >= len(j.Ranks) || j.Ranks[i].PID == 0 {
		return nil, fmt.Errorf("rank %d: no ghost of the master's", i)
	}
	c, err := Dial(j.c.Socket)
	if err != nil {
		return nil, err
	}
	if _, err := c.call(localapi.Request{Op: localapi.OpAttach, Attach: &localapi.Attach{Token: j.Ranks[i].Token, Stream: stream}}); err != nil {
		c.Close()
		return nil, fmt.Errorf("rank %d: %w", i, err)
	}
	return c.conn, nil
}

// ForwardSignals says that the caller passes the signals it receives
// (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2) on to the remote
// processes itself, as bpsh does; see ghost.Group.Forwarded. Call it before the
// first StartGhost.
func (j *Job) ForwardSignals() { j.ghosts.Forwarded = true }

// Close hangs up; ranks whose ghosts have not started yet are forgotten.
// The processes still running end with it (SIGKILL), as they do when the
// program dies, unless the run was Detach: then they and their ghosts
// go on.
func (j *Job) Close() error {
	j.ghosts.Close()
	return j.c.Close()
}
