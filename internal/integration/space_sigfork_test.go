package integration

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestSpaceRelayedSignalFork: signals sent to a ghost, relayed to its
// process on the node, fail none of its forks. A fork that a signal
// interrupts while the node has not read its notification yet fails
// with EINTR where the handler has no SA_RESTART; without the filter
// the kernel restarts it unseen. The node sends a relayed signal the
// process catches only where it cannot withdraw a notified call
// (internal/node/space_sighold.go). With SIGUSR1 sent to the ghost
// every millisecond, 3 to 47 of 400 forks failed before (load 7-32 on
// the shared 2-core machine), 0 in 30 runs after but one with 1 (at load
// 99): more than 1 fails the test.
func TestSpaceRelayedSignalFork(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	const n = 400
	j, inW := startHeldJob(t, c, fmt.Sprintf("exec %s %d", testProgram(t, "sigfork"), n))
	p := pids(t, j.line(t))[0]
	ghost := ghostsOf(t, c, p)[0]
	sent := 0
	var res string
	timeout := time.After(120 * time.Second)
	for res == "" {
		select {
		case l, ok := <-j.lines:
			if !ok {
				t.Fatal("the remote program's output ended early")
			}
			res = l
		case <-timeout:
			t.Fatalf("%d forks not done in 120 s", n)
		case <-time.After(time.Millisecond):
			if syscall.Kill(ghost, syscall.SIGUSR1) == nil {
				sent++
			}
		}
	}
	var eintr, other, caught int
	if _, err := fmt.Sscan(res, &eintr, &other, &caught); err != nil {
		t.Fatalf("sigfork said %q: %v", res, err)
	}
	t.Logf("%d forks, %d SIGUSR1 sent to the ghost, %d caught; %d forks failed with EINTR, %d otherwise", n, sent, caught, eintr, other)
	if eintr > 1 || other != 0 {
		t.Errorf("%d of %d forks failed with EINTR and %d otherwise, want at most 1 and none", eintr, n, other)
	}
	if caught == 0 {
		t.Error("no SIGUSR1 reached the process")
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}
