package bproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// Job is a Command running on nodes, one rank per node entry (a node may
// come more than once). Each rank's process has a ghost, a child of the
// calling program with the process's PID, which the Job reaps: do not
// wait for it yourself. The Job follows its ranks whether or not anyone
// calls Wait, also through a restart of the master: its ranks' ghosts
// wait for the next master, and each rank ends with its own status (or
// ErrSlaveDied if that master found it lost with its node). Its methods
// are safe for concurrent use.
type Job struct {
	run    *apiclient.Job
	socket string
	detach bool

	mu       sync.Mutex
	statuses []Status
	pidfds   []int           // each started ghost's pidfd until it is reaped, else -1
	done     []chan struct{} // closed when the rank is Done
	closed   bool
	followed chan struct{} // closed when follow has reaped all it will
	// hungUp: the master hung up while ranks ran, whose ghosts wait for
	// a next master (job_outlive.go); let closed on a detached job's
	// Close to stop following them.
	hungUp bool
	let    chan struct{}
}

// Status is what a rank has come to.
type Status struct {
	Rank int
	Node int
	PID  int  // its ghost's and its process's PID; 0 if it has none
	Done bool // it ended (its ghost reaped), or never ran
	// Ran says the process ran on its node: ExitCode, Signal and
	// CoreDumped are its own.
	Ran        bool
	ExitCode   int
	Signal     syscall.Signal // the signal that ended it, or 0
	CoreDumped bool
	// Err is why it did not run or was cut off, which errors.Is finds
	// to be ErrNodeDown, ErrSlaveDied, ...; nil if it ran to its end.
	Err     error
	Warning string // something that did not stop it, e.g. its Dir missing on the node
}

// Success says the rank ran and exited with status 0.
func (s Status) Success() bool {
	return s.Done && s.Err == nil && s.Ran && s.ExitCode == 0 && s.Signal == 0
}

// Error is the rank's failure as an error, or nil on Success: the reason
// it did not run ("rank 1 (node 3): Node is down") or an *ExitError.
func (s Status) Error() error {
	switch {
	case !s.Done:
		return fmt.Errorf("rank %d (node %d): still running", s.Rank, s.Node)
	case s.Err != nil:
		return fmt.Errorf("rank %d (node %d): %w", s.Rank, s.Node, s.Err)
	case s.Success():
		return nil
	}
	return &ExitError{s}
}

// ExitError is a rank that ran and exited other than with status 0.
type ExitError struct{ Status }

func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("rank %d (node %d): killed by signal %d (%v)", e.Rank, e.Node, int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("rank %d (node %d): exit status %d", e.Rank, e.Node, e.ExitCode)
}

// Start runs cmd on each of nodes and returns at once, with the ranks
// that could start started. A rank that could not (a node down, one the
// caller may not use) is Done with its Err; the error is for the request
// as a whole (no master, a bad Command). The Job has a connection of its
// own: c may be closed while it runs.
func (c *Client) Start(ctx context.Context, cmd Command, nodes ...int) (*Job, error) {
	wc, err := cmd.wire()
	if err != nil {
		return nil, err
	}
	conn, err := apiclient.Dial(c.socket)
	if err != nil {
		return nil, err
	}
	run, err := conn.RunContext(ctx, localapi.Run{Nodes: nodes, Command: wc, Detach: cmd.Detach})
	if err != nil {
		conn.Close()
		return nil, err
	}
	j := &Job{run: run, socket: c.socket, detach: cmd.Detach, statuses: make([]Status, len(nodes)),
		pidfds: make([]int, len(nodes)), done: make([]chan struct{}, len(nodes)), followed: make(chan struct{}), let: make(chan struct{})}
	null, err := os.Open(os.DevNull)
	if err != nil {
		run.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	defer null.Close()
	files := [3]*os.File{cmd.Stdin, cmd.Stdout, cmd.Stderr}
	for i, f := range files {
		if f == nil {
			files[i] = null
		}
	}
	for i, rk := range run.Ranks {
		j.statuses[i] = Status{Rank: i, Node: rk.Node}
		j.pidfds[i] = -1
		j.done[i] = make(chan struct{})
		if err := apiclient.RankError(rk); err != nil {
			j.finish(i, Status{Err: err})
			continue
		}
		pid, err := run.StartGhost(i, files)
		if err == nil {
			j.pidfds[i], err = unix.PidfdOpen(pid, 0)
			if err != nil {
				// Our child, not reaped yet: there is a pidfd.
				err = fmt.Errorf("pidfd of ghost %d: %w", pid, err)
				syscall.Kill(pid, syscall.SIGKILL)
				unix.Wait4(pid, nil, 0, nil)
				j.pidfds[i] = -1
			}
		}
		if err != nil {
			j.finish(i, Status{Err: err})
			continue
		}
		j.statuses[i].PID = pid
	}
	go j.follow()
	return j, nil
}

// finish makes rank i Done with what s says of its end.
func (j *Job) finish(i int, s Status) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := &j.statuses[i]
	if st.Done {
		return
	}
	st.Done, st.Ran, st.ExitCode, st.Signal, st.CoreDumped, st.Err = true, s.Ran, s.ExitCode, s.Signal, s.CoreDumped, s.Err
	if s.Warning != "" {
		st.Warning = s.Warning
	}
	close(j.done[i])
}

// follow reads the master's events, reaping each rank's ghost when its
// status has come. When the master hangs up, the ranks still running
// are followed through their ghosts, which wait for a next master
// (outlive); when the job is closed, they are ended (or left, detached).
func (j *Job) follow() {
	defer close(j.followed)
	for ev := range j.run.Events {
		if ev.Rank < 0 || ev.Rank >= len(j.statuses) {
			continue
		}
		if ev.Warning != "" {
			j.mu.Lock()
			j.statuses[ev.Rank].Warning = ev.Warning
			j.mu.Unlock()
		}
		if !ev.Final {
			continue
		}
		j.reap(ev.Rank)
		j.finish(ev.Rank, Status{Ran: ev.Started, ExitCode: ev.Status.Code, Signal: ev.Status.Signal,
			CoreDumped: ev.Status.Core, Err: apiclient.EventError(ev)})
	}
	j.mu.Lock()
	closed := j.closed
	j.hungUp = !closed
	j.mu.Unlock()
	if !closed {
		j.outlive() // job_outlive.go
		return
	}
	j.mu.Lock()
	closed, detached := j.closed, j.closed && j.detach
	j.mu.Unlock()
	why := fmt.Errorf("the master hung up: %w", ErrSlaveDied)
	if closed {
		why = errJobClosed
	}
	for i := range j.statuses {
		if detached {
			go j.reap(i) // its process goes on; so does its ghost, our child
		} else {
			j.kill(i, unix.SIGKILL)
			j.reap(i)
		}
		j.finish(i, Status{Err: why})
	}
}

// errJobClosed is the Err of the ranks still running at a Close.
var errJobClosed = errors.New("the job was closed before it ended")

// reap waits for rank i's ghost, if it has one not yet reaped.
func (j *Job) reap(i int) { j.reapStatus(i) }

// reapStatus is reap, saying how the ghost ended; false if it had none
// to reap.
func (j *Job) reapStatus(i int) (unix.WaitStatus, bool) {
	j.mu.Lock()
	fd, pid := j.pidfds[i], j.statuses[i].PID
	j.mu.Unlock()
	var ws unix.WaitStatus
	if fd < 0 {
		return ws, false
	}
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	j.mu.Lock()
	unix.Close(fd)
	j.pidfds[i] = -1
	j.mu.Unlock()
	return ws, true
}

// kill sends sig to rank i's ghost if it has not been reaped.
func (j *Job) kill(i int, sig unix.Signal) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.pidfds[i] < 0 {
		return fmt.Errorf("rank %d: %w", i, os.ErrProcessDone)
	}
	return unix.PidfdSendSignal(j.pidfds[i], sig, nil, 0)
}

// Len is the number of ranks.
func (j *Job) Len() int { return len(j.statuses) }

// Statuses is what each rank has come to now.
func (j *Job) Statuses() []Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Status(nil), j.statuses...)
}

// Signal sends sig to rank i's process: through its ghost, or for
// SIGSTOP, which a ghost cannot take, through the master. SIGKILL kills
// the ghost, and the master kills the process.
func (j *Job) Signal(ctx context.Context, i int, sig syscall.Signal) error {
	if i < 0 || i >= len(j.statuses) {
		return fmt.Errorf("signal rank %d: the job has ranks 0 to %d", i, len(j.statuses)-1)
	}
	if sig != syscall.SIGSTOP {
		if err := j.kill(i, sig); err != nil {
			return fmt.Errorf("signal rank %d: %w", i, err)
		}
		return nil
	}
	j.mu.Lock()
	pid, reaped := j.statuses[i].PID, j.pidfds[i] < 0
	j.mu.Unlock()
	if reaped {
		return fmt.Errorf("signal rank %d: %w", i, os.ErrProcessDone)
	}
	conn, err := apiclient.Dial(j.socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Call(ctx, localapi.Request{Op: localapi.OpSignal, Signal: &localapi.Signal{PID: pid, Signal: int(sig)}})
	return err
}

// WaitRank waits for rank i to be Done and returns its Status and its
// Status.Error. If ctx ends first it returns ctx's error; the rank goes on.
func (j *Job) WaitRank(ctx context.Context, i int) (Status, error) {
	if i < 0 || i >= len(j.statuses) {
		return Status{}, fmt.Errorf("wait rank %d: the job has ranks 0 to %d", i, len(j.statuses)-1)
	}
	select {
	case <-j.done[i]:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	j.mu.Lock()
	s := j.statuses[i]
	j.mu.Unlock()
	return s, s.Error()
}

// Wait waits for every rank to be Done, and returns nil if each
// succeeded, else the ranks' errors joined (errors.Is finds ErrNodeDown
// and the rest in it; errors.As an *ExitError). If ctx ends first, Wait
// ends the job as Kill does, waits for its ghosts, and returns ctx's
// error: nothing of the job is left, even if it was Detach.
func (j *Job) Wait(ctx context.Context) error {
	for i := range j.done {
		select {
		case <-j.done[i]:
		case <-ctx.Done():
			j.end(true)
			return ctx.Err()
		}
	}
	var errs []error
	for _, s := range j.Statuses() {
		errs = append(errs, s.Error())
	}
	return errors.Join(errs...)
}

// Kill kills every rank's process still running (SIGKILL to its ghost,
// upon which the master kills the process) and returns; Wait then
// returns soon.
func (j *Job) Kill() {
	for i := range j.statuses {
		j.kill(i, unix.SIGKILL)
	}
}

// Close hangs up the job's connection and waits for its ghosts. Without
// Detach, the processes still running are killed; with it, they go on
// and the Job stops following them (their ghosts are still reaped).
func (j *Job) Close() error {
	return j.end(false)
}

// end hangs up and waits until every ghost is reaped (a detached job's:
// until it is left to a reaper), after killing the ghosts if kill.
func (j *Job) end(kill bool) error {
	j.mu.Lock()
	was := j.closed
	j.closed = true
	if kill {
		j.detach = false
	}
	hungUp, detach := j.hungUp, j.detach
	j.mu.Unlock()
	// Ranks followed past their master's end (outlive) end now too, or
	// are let go, detached.
	if kill || (hungUp && !detach) {
		j.Kill()
	}
	if !was && hungUp && detach {
		close(j.let)
	}
	var err error
	if !was {
		err = j.run.Close()
	}
	<-j.followed
	return err
}
