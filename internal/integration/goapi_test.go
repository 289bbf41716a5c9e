package integration

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/bproc"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestGoAPIJob: package bproc's Job, as a Go program outside the module
// uses it. 500 processes with nobody reading their events all end and
// are reaped (bproc/job.go stopped reading the master's events after
// 64, and later ghosts never exited); the ranks that cannot run say why
// in errors errors.Is knows; stdio and signals reach the processes.
func TestGoAPIJob(t *testing.T) {
	c := startCluster(t, 3)
	api := c.api()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := api.Change(ctx, bproc.NodeChange{Action: "halt"}, 2); err != nil {
		t.Fatalf("halt node 2: %v", err)
	}
	t.Cleanup(func() { // the cluster stops with each local node running
		if err := api.Change(context.Background(), bproc.NodeChange{Action: "reboot"}, 2); err != nil {
			t.Errorf("reboot node 2: %v", err)
		}
		c.waitState(t, "2", "up")
	})
	waitFor(t, "node 2 down", func() bool {
		n, err := api.Node(ctx, 2)
		return err == nil && n.State == bproc.StateDown
	})

	const n = 500
	nodes := make([]int, n, n+2)
	for i := range nodes {
		nodes[i] = i % 2
	}
	nodes = append(nodes, 2, 7)
	start := time.Now()
	job, err := api.Start(ctx, bproc.Command{Path: "true", NoIO: true}, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	err = job.Wait(ctx)
	t.Logf("%d ranks of true on 2 nodes: %v", n, time.Since(start))
	if !errors.Is(err, bproc.ErrNodeDown) || !errors.Is(err, bproc.ErrInvalidNode) || errors.Is(err, ctx.Err()) {
		t.Errorf("Wait = %v, want Node is down (rank %d) and Invalid node number (rank %d)", err, n, n+1)
	}
	ok := 0
	for _, s := range job.Statuses()[:n] {
		if s.Success() && s.PID > 0 {
			ok++
		}
		if _, err := syscall.Wait4(s.PID, nil, syscall.WNOHANG, nil); s.PID > 0 && err != syscall.ECHILD {
			t.Errorf("rank %d: its ghost %d is not reaped (%v)", s.Rank, s.PID, err)
			break
		}
	}
	if ok != n {
		t.Errorf("%d of %d ranks of true succeeded", ok, n)
	}
	st := job.Statuses()
	if !errors.Is(st[n].Err, bproc.ErrNodeDown) || st[n].Ran || !errors.Is(st[n+1].Err, bproc.ErrInvalidNode) {
		t.Errorf("ranks on a down node and on no node: %+v, %+v", st[n], st[n+1])
	}
	if _, err := job.WaitRank(ctx, n+2); err == nil {
		t.Errorf("WaitRank(%d) of %d ranks: no error", n+2, n+2)
	}
	job.Close()
	c.waitNoProcs()

	// VExecMove's errors, too.
	if _, err := api.VExecMove(ctx, []int{2, 7}, "/bin/true", nil, nil, [3]*os.File{}); !errors.Is(err, bproc.ErrNodeDown) || !errors.Is(err, bproc.ErrInvalidNode) {
		t.Errorf("VExecMove on a down node and on none: %v", err)
	}

	// Output through the rank's Stdout; a signal; a rank's own status.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	job, err = api.Start(ctx, bproc.Command{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $BPROC_NODE; exec sleep 300"}, Stdout: w}, 1)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	line := make([]byte, 2)
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "1\n" {
		t.Errorf("rank 0's output: %q %v, want 1", line, err)
	}
	if err := job.Signal(ctx, 0, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s, err := job.WaitRank(ctx, 0)
	var ee *bproc.ExitError
	if !s.Ran || s.Signal != syscall.SIGTERM || !errors.As(err, &ee) {
		t.Errorf("WaitRank after SIGTERM: %+v, %v", s, err)
	}
	if err := job.Signal(ctx, 0, syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the end: %v, want os.ErrProcessDone", err)
	}
}

// TestGoAPIWaitCancel: a Wait whose context ends returns its error and
// leaves nothing behind: no remote process, no ghost.
func TestGoAPIWaitCancel(t *testing.T) {
	c := startCluster(t, 2)
	api := c.api()
	job, err := api.Start(t.Context(), bproc.Command{Path: "/bin/sleep", Args: []string{"sleep", "300"}, NoIO: true}, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	waitFor(t, "the sleeps to run", func() bool {
		procs, err := api.Procs(t.Context())
		return err == nil && len(procs) == 3
	})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := job.Wait(ctx); err != context.DeadlineExceeded {
		t.Errorf("Wait with a deadline = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Wait took %v after its deadline", d)
	}
	for _, s := range job.Statuses() {
		if !s.Done || s.PID == 0 {
			t.Errorf("rank %d after a cancelled Wait: %+v", s.Rank, s)
		}
		if _, err := syscall.Wait4(s.PID, nil, syscall.WNOHANG, nil); err != syscall.ECHILD {
			t.Errorf("rank %d: its ghost %d is not reaped (%v)", s.Rank, s.PID, err)
		}
	}
	if err := job.Close(); err != nil {
		t.Errorf("Close after a cancelled Wait: %v", err)
	}
	c.waitNoProcs()

	// A Detach job's processes outlive its Close; its ghosts are still
	// reaped when they end.
	job, err = api.Start(t.Context(), bproc.Command{Path: "/bin/sleep", Args: []string{"sleep", "300"}, NoIO: true, Detach: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the detached sleep to run", func() bool {
		procs, err := api.Procs(t.Context())
		return err == nil && len(procs) == 1
	})
	job.Close()
	time.Sleep(300 * time.Millisecond)
	pid := job.Statuses()[0].PID
	if procs, err := api.Procs(t.Context()); err != nil || len(procs) != 1 || procs[0].PID != pid {
		t.Errorf("a Detach job's process after Close: %+v, %v, want ghost %d's", procs, err, pid)
	}
	if err := api.Signal(t.Context(), pid, syscall.SIGKILL); err != nil {
		t.Errorf("signal the detached process: %v", err)
	}
	waitFor(t, "the detached ghost reaped", func() bool { // by the Job: a zombie has its /proc entry
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		return errors.Is(err, os.ErrNotExist)
	})
	c.waitNoProcs()

	// A Watch with a context returns when it ends, not after a minute.
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	now, err := api.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := api.Watch(ctx, now); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Watch with a 300 ms deadline: %v after %v", err, time.Since(start))
	}
	if _, err := api.Nodes(t.Context()); err != nil {
		t.Errorf("Nodes after a cancelled Watch: %v", err)
	}
}

// TestJobEventsUnread: the ghosts of a run whose caller never reads its
// events all end. The client stopped reading the master's events once 64
// were queued; the master's sends then blocked and later ghosts were
// never told their status (3,000 processes: 343 reaped in 60 s).
func TestJobEventsUnread(t *testing.T) {
	c := startCluster(t, 2)
	const n = 1000
	nodes := make([]int, n)
	for i := range nodes {
		nodes[i] = i % 2
	}
	job, err := c.client().Run(localapi.Run{Nodes: nodes, Command: wire.Command{Path: "/bin/true", Argv: []string{"true"}, Dir: "/", NoIO: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	ghosts := map[int]bool{}
	for i := range nodes {
		pid, err := job.StartGhost(i, [3]*os.File{})
		if err != nil {
			t.Fatalf("rank %d: %v", i, err)
		}
		ghosts[pid] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(ghosts) > 0 && time.Now().Before(deadline) {
		for pid := range ghosts {
			if got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); got == pid || err == syscall.ECHILD {
				delete(ghosts, pid)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(ghosts) > 0 {
		t.Errorf("%d of %d ghosts still running after 60 s with the run's events unread", len(ghosts), n)
		for pid := range ghosts {
			syscall.Kill(pid, syscall.SIGKILL)
			syscall.Wait4(pid, nil, 0, nil)
		}
	}
}
