package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// spaceExits streams the master's process ends and returns a function
// that collects them, but for the ghost skip's, until done says they are
// enough (or 60 s have passed), and returns how many ended with each
// exit code, and by a signal (-1).
func spaceExits(t *testing.T, c *cluster) func(skip int, done func(byCode map[int]int) bool) map[int]int {
	t.Helper()
	evs := make(chan localapi.ClusterEvent, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	streamDone := make(chan error, 1)
	cl := c.client()
	go func() {
		streamDone <- cl.Events(ctx, func(ev localapi.ClusterEvent) error {
			if ev.Kind == localapi.EventExit {
				evs <- ev
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-streamDone })
	return func(skip int, done func(map[int]int) bool) map[int]int {
		t.Helper()
		byCode := map[int]int{}
		timeout := time.After(60 * time.Second)
		for !done(byCode) {
			select {
			case ev := <-evs:
				switch {
				case ev.PID == skip:
				case ev.Status == nil || ev.Status.Signal != 0:
					byCode[-1]++
					t.Logf("ghost %d: ended with %+v (%s)", ev.PID, ev.Status, ev.Error)
				default:
					byCode[ev.Status.Code]++
				}
			case <-timeout:
				t.Errorf("ends of descendants after 60 s: %v", byCode)
				return byCode
			}
		}
		return byCode
	}
}

// TestSpaceForkRestarted: a fork that a signal finds pending once the
// node has let it go is restarted by the kernel, and comes back to the
// node as a new call: it keeps the one ghost made for it (it was given
// SIGKILL, and the node waited 5 s for a child of the first call).
func TestSpaceForkRestarted(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	exits := spaceExits(t, c)
	const n = 60
	j, inW := startHeldJob(t, c, fmt.Sprintf("exec %s %d", testProgram(t, "sigchld"), n))
	p := pids(t, j.line(t))[0]
	pGhost := ghostsOf(t, c, p)[0]
	began := time.Now()
	if l := j.line(t); l != "bad=0" {
		t.Errorf("sigchld reaped: %q, want bad=0", l)
	}
	got := exits(pGhost, func(by map[int]int) bool { return by[7]+by[-1] >= n })
	if got[7] != n || got[-1] != 0 || len(got) != 1 {
		t.Errorf("children's ghosts ended so (code: how many, -1 by a signal): %v, want 7: %d", got, n)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("%d forks took %v", n, d)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}
