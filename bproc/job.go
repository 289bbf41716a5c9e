package bproc

import (
	"fmt"
	"os"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// Job is one run request: a rank per node entry, each started by a ghost
// that is a child of the calling program.
type Job struct {
	Ranks  []localapi.Rank
	Events <-chan localapi.Event // closed when the master hangs up

	c *Client
	// ghosts starts the ranks' ghosts: they all run the job's argv, so
	// they share one address space (see ghost.Group).
	ghosts *ghost.Group
}

// Run asks the master for the ranks of r. Ranks with an Error cannot run;
// for the others, StartGhost starts the process. The Job owns c.
func (c *Client) Run(r localapi.Run) (*Job, error) {
	reply, err := c.call(localapi.Request{Op: localapi.OpRun, Run: &r})
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if len(reply.Ranks) != len(r.Nodes) {
		return nil, fmt.Errorf("run: master answered %d ranks for %d nodes", len(reply.Ranks), len(r.Nodes))
	}
	events := make(chan localapi.Event, 64)
	go func() {
		defer close(events)
		for {
			var ev localapi.Event
			if err := localapi.ReadFrame(c.conn, &ev); err != nil {
				return
			}
			events <- ev
		}
	}()
	return &Job{Ranks: reply.Ranks, Events: events, c: c, ghosts: &ghost.Group{Argv: r.Argv, Socket: c.Socket}}, nil
}

// StartGhost starts rank i: its ghost (a child of this process, whose PID
// the remote process will have) with files as its stdin, stdout and stderr.
func (j *Job) StartGhost(i int, files [3]*os.File) (int, error) {
	r := j.Ranks[i]
	if err := RankError(r); err != nil {
		return 0, fmt.Errorf("%d: %w", r.Node, err)
	}
	tok, err := ghost.ParseToken(r.Token)
	if err != nil {
		return 0, fmt.Errorf("rank %d: %w", i, err)
	}
	return j.ghosts.Start(tok, files)
}

// Close hangs up; ranks whose ghosts have not started yet are forgotten.
// The processes still running end with it (SIGKILL), as they do when the
// program dies, unless the run was Detach: then they and their ghosts
// go on.
func (j *Job) Close() error {
	j.ghosts.Close()
	return j.c.Close()
}
