package bproc

import (
	"errors"
	"fmt"
	"os"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// ExecMove starts path with argv and env on node, in the caller's working
// directory, as a remote process whose ghost is a child of this program:
// BProc's bproc_execmove as a Go program can have it (Go cannot fork, so
// the process is a new one rather than this one moved). The returned
// process is the ghost, with the remote process's PID: Wait returns the
// remote exit status, Signal reaches the remote process. files become its
// stdin, stdout and stderr (nil: closed).
func (c *Client) ExecMove(node int, path string, argv, env []string, files [3]*os.File) (*os.Process, error) {
	ps, err := c.VExecMove([]int{node}, path, argv, env, files)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// VExecMove is ExecMove on each of nodes. The i-th process runs on
// nodes[i]; a node where it could not start has a nil process and its
// reason in the returned error (errors.Join of "N: reason"). The Client is
// used up: the run keeps the connection until every process has ended.
func (c *Client) VExecMove(nodes []int, path string, argv, env []string, files [3]*os.File) ([]*os.Process, error) {
	if len(argv) == 0 {
		argv = []string{path}
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = "/"
	}
	job, err := c.Run(localapi.Run{Nodes: nodes, Command: wire.Command{Path: path, Argv: argv, Env: env, Dir: dir}})
	if err != nil {
		c.Close()
		return nil, err
	}
	out := make([]*os.Process, len(nodes))
	var errs []error
	started := 0
	for i := range job.Ranks {
		pid, err := job.StartGhost(i, files)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out[i], err = os.FindProcess(pid); err != nil {
			errs = append(errs, fmt.Errorf("%d: %w", nodes[i], err))
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
