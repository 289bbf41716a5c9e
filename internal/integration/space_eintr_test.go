package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSpaceForkSignal: a fork that a signal interrupts while the node has
// not read its notification yet fails with EINTR where the handler has no
// SA_RESTART (dash's SIGCHLD: "sh: Cannot fork"); without the filter the
// kernel restarts it unseen. A dash loop of background subshells gets a
// SIGCHLD at each child's end, as its next fork begins; the node lets a
// child end only where its parent's SIGCHLD cannot withdraw a call
// (internal/node/space_hold.go).
//
// The kernel's window is narrowed, not closed (a signal from elsewhere
// still falls into it), so the test counts runs: before, 26 and 30 of 40
// failed (load 10-13 on 2 cores; 16 of 20 on a quiet machine); after, 1
// or 2 of 40. More than 2 of 15 fail the test.
// BPROC_TEST_FORK_SIGNAL_RUNS sets the runs, for measuring.
func TestSpaceForkSignal(t *testing.T) {
	spaceOn(t)
	runs, allowed := 15, 2
	if s := os.Getenv("BPROC_TEST_FORK_SIGNAL_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("BPROC_TEST_FORK_SIGNAL_RUNS=%q: want a number of runs", s)
		}
		runs, allowed = n, 0
	}
	c := startCluster(t, 1, "--no-diskless")
	const loop = `i=0; while [ $i -lt 100 ]; do (exit 7) & i=$((i+1)); done; wait; echo done`
	failed := 0
	for r := 0; r < runs; r++ {
		res := c.run("", "bpsh", "0", "/bin/sh", "-c", loop)
		if res.code != 0 || strings.TrimSpace(res.stdout) != "done" {
			failed++
			t.Logf("run %d: exit %d, stdout %q, stderr %q", r, res.code, res.stdout, res.stderr)
		}
	}
	if failed > allowed {
		t.Errorf("%d of %d runs of 100 forks under dash failed, want at most %d", failed, runs, allowed)
	} else if failed > 0 {
		t.Logf("%d of %d runs of 100 forks under dash failed (at most %d allowed)", failed, runs, allowed)
	}
	c.waitNoProcs()
}
