package apiclient

import (
	"context"
	"os"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// RunPrestarted is Run with the first ghost's fork and exec overlapping
// the master's answer (ghost.Group.Prestart): files are that ghost's
// stdio, and forwarded says that the caller will call ForwardSignals.
// The first StartGhost or StartGhosts of a rank with the same files
// gives it its token; a rank with other files first, or Close, ends it
// unused. Should it not start, the ghosts start as after Run.
//
// The caller must not wait for its children with wait4(-1) until its
// first ghosts have started, or the Job is closed: the unused ghost is
// reaped by its PID.
func (c *Client) RunPrestarted(r localapi.Run, files [3]*os.File, forwarded bool) (*Job, error) {
	g := &ghost.Group{Argv: r.Argv, Socket: c.Socket, Forwarded: forwarded}
	// Once the request is sent: the master works on it meanwhile. A
	// ghost that did not start is started after the answer.
	j, err := c.run(context.Background(), r, g, func() { g.Prestart(files) })
	if err != nil {
		g.Close()
		return nil, err
	}
	return j, nil
}
