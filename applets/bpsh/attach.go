package bpsh

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// bpsh on a node (bpsh 0 bpsh 1 hostname, Open MPI's tree spawn through
// bprsh): its ghosts cannot be its children, so the master starts them
// (a rank with a PID), and bpsh joins each rank's stdio through the
// master (Job.Attach). How a rank ended comes as its last event; signals
// go through the master by the ghost's PID.

// attach joins rank k's streams (rk, the job's k-th rank) to files; the
// files in closeAfter are closed once the rank's output has ended.
func (r *runner) attach(job *apiclient.Job, k int, rk *rank, files [3]*os.File, closeAfter []*os.File) error {
	inout, err := job.Attach(k, localapi.StreamInOut)
	if err != nil {
		closeAll(closeAfter)
		return err
	}
	errs, err := job.Attach(k, localapi.StreamErr)
	if err != nil {
		inout.Close()
		closeAll(closeAfter)
		return err
	}
	rk.pid, rk.attached = job.Ranks[k].PID, true
	r.attached++
	go func() {
		// Left blocked in read when the rank ends first: bpsh exits
		// without it.
		if files[0] != nil {
			io.Copy(inout, files[0])
		}
		inout.(*net.UnixConn).CloseWrite()
	}()
	r.sinks.Add(2)
	go func() {
		defer r.sinks.Done()
		copyTo(files[1], inout)
		inout.Close()
	}()
	go func() {
		defer r.sinks.Done()
		copyTo(files[2], errs)
		errs.Close()
		closeAll(closeAfter)
	}()
	return nil
}

// copyTo copies a stream to f, or drops it when f is nil (closed).
func copyTo(f *os.File, from io.Reader) {
	var w io.Writer = io.Discard
	if f != nil {
		w = f
	}
	io.Copy(w, from)
}

// attachedEnded records how an attached rank ended, from its last event,
// as if its ghost had been reaped here.
func (rk *rank) attachedEnded(ev localapi.Event) {
	if !rk.attached || !ev.Started {
		return
	}
	if ev.Status.Signal != 0 {
		ws := uint32(ev.Status.Signal)
		if ev.Status.Core {
			ws |= 0x80
		}
		rk.ws = unix.WaitStatus(ws)
	} else {
		rk.ws = unix.WaitStatus(uint32(ev.Status.Code&0xff) << 8)
	}
	rk.reaped = true
}

// signalRemote passes sig to the remote processes of pids (ghosts of
// bpsh's own), and to the attached ranks, through the master. A ghost of
// its own that the master does not know (it is away, or has not had the
// ghost's hello yet) is sent the signal itself, to relay once it can.
func (r *runner) signalRemote(pids []int, sig syscall.Signal) {
	own := len(pids)
	for _, rk := range r.ranks {
		if rk.attached && !rk.final {
			pids = append(pids, rk.pid)
		}
	}
	if len(pids) == 0 {
		return
	}
	c, err := apiclient.Dial(r.client.Socket)
	if err != nil {
		// No master (it is restarting): the ghosts hold the signal
		// until the next one takes them back (a kill, unlike the
		// terminal's copy, is relayed).
		for _, pid := range pids[:own] {
			killGhost(pid, sig)
		}
		return
	}
	defer c.Close()
	for i, pid := range pids {
		if err := c.Signal(pid, sig); i < own && errors.Is(err, localapi.ErrInvalidProcess) {
			killGhost(pid, sig)
		}
	}
}
