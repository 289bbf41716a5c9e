package integration

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpaceStopDescendant: SIGSTOP sent to a descendant's ghost stops its
// process on the node, and SIGCONT continues it. A ghost cannot relay a
// SIGSTOP (it cannot be caught): its parent ghost sees it stopped and
// tells the master.
func TestSpaceStopDescendant(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)
	// The loop forks nothing: a fork would wait for its stopped ghost,
	// which would stop the loop whether its SIGSTOP came or not.
	j := startSpaceJob(t, c, `sh -c 'i=0; while :; do i=$((i+1)); [ $((i%500)) -eq 0 ] && echo $i > /tmp/count; done' & C=$!
		echo $$ $C; wait $C; echo C=$?`)
	loop := ghostsOf(t, c, pids(t, j.line(t))...)[1]
	count := func() int {
		n, _ := strconv.Atoi(strings.TrimSpace(c.run("", "bpsh", "0", "cat", "/tmp/count").stdout))
		return n
	}
	waitFor(t, "the remote loop counting", func() bool { return count() > 0 })

	if err := syscall.Kill(loop, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var stood int
	waitFor(t, "the remote loop stopped", func() bool {
		a := count()
		time.Sleep(300 * time.Millisecond)
		stood = count()
		return a == stood
	})
	time.Sleep(time.Second)
	if n := count(); n != stood {
		t.Fatalf("the remote loop counts on (%d, then %d) while its ghost is stopped", stood, n)
	}

	if err := syscall.Kill(loop, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the remote loop counting again", func() bool { return count() > stood })
	syscall.Kill(loop, syscall.SIGTERM)
	if l := j.line(t); l != "C=143" {
		t.Errorf("the shell's wait for the loop: %q, want C=143", l)
	}
}
