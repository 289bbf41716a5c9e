package integration

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/bproc"
)

// TestGoAPIMasterKilledNodeDied: a Go program's bproc.Job outlives its
// master as bpsh does: killed, the master hangs up, the Job follows its
// ranks through their ghosts, and each ends with its own status once a
// next master took them back: the rank on the node that lived with its
// exit code, the rank on a node that died meanwhile with "Slave node
// died" (asked of the next master, OpLost), not "the master hung up".
func TestGoAPIMasterKilledNodeDied(t *testing.T) {
	c, slaves := startWithSlaves(t, 2, "--no-diskless", "--node-grace", "8s")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	api := c.api()
	job, err := api.Start(ctx, bproc.Command{Path: "/bin/sh", Args: []string{"sh", "-c", `[ "$BPROC_NODE" = 0 ] && exec sleep 60; sleep 4; exit 3`}, NoIO: true}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	waitStarted(t, c, 2)
	c.master.Process.Kill()
	c.master.Wait()
	// Node 0 dies meanwhile (its remote process with it).
	slaves[0].Process.Signal(syscall.SIGTERM)
	waitCmd(slaves[0], 10*time.Second)
	c.launch()
	waitListening(t, c)
	job.Wait(ctx)
	st := job.Statuses()
	if s := st[1]; !s.Done || s.Err != nil || !s.Ran || s.ExitCode != 3 {
		t.Errorf("rank 1, on the node that lived: %+v (%v), want exit 3", s, s.Err)
	}
	if s := st[0]; !s.Done || !errors.Is(s.Err, bproc.ErrSlaveDied) || strings.Contains(s.Err.Error(), "hung up") {
		t.Errorf("rank 0, on the node that died: %+v (%v), want Slave node died from the next master", s, s.Err)
	}
}

// TestGoAPIMasterKilledClose: a Job whose master is killed keeps its
// rank running while no master answers (its ghost waits for a next
// one), and Close still ends it: the ghost is killed and reaped, the rank
// Done.
func TestGoAPIMasterKilledClose(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	api := c.api()
	job, err := api.Start(t.Context(), bproc.Command{Path: "/bin/sleep", Args: []string{"sleep", "60"}, NoIO: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	waitStarted(t, c, 1)
	c.master.Process.Kill()
	c.master.Wait()
	time.Sleep(time.Second)
	if s := job.Statuses()[0]; s.Done {
		t.Errorf("rank 0 Done as its master was killed: %+v, want it followed through its ghost", s)
	}
	closed := make(chan error, 1)
	go func() { closed <- job.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("Close of a job whose master was killed did not return within 10 s")
	}
	s := job.Statuses()[0]
	if !s.Done || s.Err == nil {
		t.Errorf("rank 0 after Close: %+v, want Done with an error", s)
	}
	if running(s.PID) {
		t.Errorf("ghost %d still there after Close", s.PID)
	}
	c.launch() // the cleanup stops a master
	waitListening(t, c)
}
