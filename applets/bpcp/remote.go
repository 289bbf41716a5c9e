package bpcp

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// remote is a file server on a node: the node's bproc binary running as
// the caller, like any remote process (its ghost is bpcp's child), so
// permissions on the node are the caller's and the node's permissions
// (bpctl -m) apply as to bpsh.
type remote struct {
	job   *apiclient.Job // open until the file server ends: the master forgets a job whose client hung up
	c     *sftp.Client
	pid   int // the ghost
	pipes []*os.File
}

func startRemote(socket string, node int, stderr io.Writer) (*remote, error) {
	client, err := apiclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = "/"
	}
	job, err := client.Run(localapi.Run{
		Nodes: []int{node},
		Command: wire.Command{
			Builtin: wire.BuiltinFileServer, Argv: []string{"bpcp", "--server"},
			Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir,
		},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	if e := job.Ranks[0].Error; e != "" {
		job.Close()
		return nil, fmt.Errorf("%d: %s", node, e)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		job.Close()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		job.Close()
		inR.Close()
		inW.Close()
		return nil, err
	}
	pid, err := job.StartGhost(0, [3]*os.File{inR, outW, os.Stderr})
	inR.Close()
	outW.Close()
	if err != nil {
		job.Close()
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%d: %w", node, err)
	}
	go func() {
		for ev := range job.Events {
			if ev.Warning != "" {
				fmt.Fprintf(stderr, "bpcp: node %d: %s\n", node, ev.Warning)
			}
		}
	}()
	r := &remote{job: job, pid: pid, pipes: []*os.File{inW, outR}}
	c, err := sftp.NewClientPipe(outR, inW)
	if err != nil {
		why := r.why(err)
		r.close()
		return nil, fmt.Errorf("%d: file server: %w", node, why)
	}
	r.c = c
	return r, nil
}

// close ends the file server and reaps its ghost.
func (r *remote) close() error {
	if r.c != nil {
		r.c.Close()
	}
	for _, f := range r.pipes {
		f.Close()
	}
	defer r.job.Close()
	if r.pid <= 0 {
		return nil
	}
	var ws unix.WaitStatus
	_, err := unix.Wait4(r.pid, &ws, 0, nil)
	return err
}

// why explains a file server that did not answer: it ended before it spoke.
func (r *remote) why(err error) error {
	var ws unix.WaitStatus
	if pid, _ := unix.Wait4(r.pid, &ws, unix.WNOHANG, nil); pid == r.pid {
		r.pid = -1
		return fmt.Errorf("it ended with %s", wire.FromWait(ws))
	}
	return errors.Unwrap(err)
}
