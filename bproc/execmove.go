package bproc

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// ExecMove starts path with argv and env on node, in the caller's working
// directory, as a remote process whose ghost is a child of this program:
// BProc's bproc_execmove as a Go program can have it (Go cannot fork, so
// the process is a new one rather than this one moved). The returned
// process is the ghost, with the remote process's PID: Wait returns the
// remote exit status, Signal reaches the remote process. files become its
// stdin, stdout and stderr (nil: closed). For a process the package
// follows and reaps itself, use Start.
func (c *Client) ExecMove(ctx context.Context, node int, path string, argv, env []string, files [3]*os.File) (*os.Process, error) {
	ps, err := c.VExecMove(ctx, []int{node}, path, argv, env, files)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// VExecMove is ExecMove on each of nodes. The i-th process runs on
// nodes[i]; a node where it could not start has a nil process and its
// reason in the returned error, one "rank I (node N): reason" per such
// node joined, which errors.Is finds to be ErrNodeDown and the rest.
func (c *Client) VExecMove(ctx context.Context, nodes []int, path string, argv, env []string, files [3]*os.File) ([]*os.Process, error) {
	if len(argv) == 0 {
		argv = []string{path}
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = "/"
	}
	conn, err := apiclient.Dial(c.socket)
	if err != nil {
		return nil, err
	}
	job, err := conn.RunContext(ctx, localapi.Run{Nodes: nodes, Command: wire.Command{Path: path, Argv: argv, Env: env, Dir: dir}})
	if err != nil {
		conn.Close()
		return nil, err
	}
	out := make([]*os.Process, len(nodes))
	var errs []error
	started := 0
	for i := range job.Ranks {
		pid, err := job.StartGhost(i, files)
		if err == nil {
			out[i], err = os.FindProcess(pid)
		}
		if err != nil {
			if rerr := apiclient.RankError(job.Ranks[i]); rerr != nil {
				err = rerr // without StartGhost's "N: " before it
			}
			errs = append(errs, fmt.Errorf("rank %d (node %d): %w", i, nodes[i], err))
			continue
		}
		started++
	}
	// The master forgets ranks whose ghosts have not come when the run's
	// connection closes: hold it until every started rank has ended.
	if started == 0 {
		job.Close()
		return out, errors.Join(errs...)
	}
	go func(left int) {
		defer job.Close()
		for ev := range job.Events {
			if ev.Final {
				if left--; left == 0 {
					return
				}
			}
		}
	}(started)
	return out, errors.Join(errs...)
}
