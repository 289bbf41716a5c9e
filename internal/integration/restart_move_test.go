package integration

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMasterPauseAfterMove: a process that moved between nodes and then
// lost its master for a while (paused past the ping timeout) goes on
// with every byte of its output once: the master counts the moved
// process's streams from their start on its new node, where the node
// counts them (the master went on counting from the old node's bytes,
// and the resume skipped what was written meanwhile).
func TestMasterPauseAfterMove(t *testing.T) {
	c := startCluster(t, 2, "--no-diskless", "--node-grace", "60s")
	runMovedCounter(t, c, func() { pauseMaster(t, c, 5*time.Second) })
	c.waitLog(t, regexp.MustCompile(`remote process taken back`))
	if strings.Contains(c.log.String(), "outside what the node holds") {
		t.Errorf("the master resumed the moved process from an offset its node never had")
	}
}

// TestMasterKilledAfterMove: a process that moved between nodes goes on
// through a SIGKILL of its master and a new master: its ghost tells the
// new master where it runs now and how much of its output it wrote (both
// counted from the move), the node it moved to kept it, and every number
// arrives once.
func TestMasterKilledAfterMove(t *testing.T) {
	c, _ := startWithSlaves(t, 2, "--no-diskless", "--node-grace", "60s")
	runMovedCounter(t, c, func() { killRestart(t, c, 500*time.Millisecond) })
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted" pid=\d+ node=1`))
}

// runMovedCounter runs a counter to 240 on node 0 of c that moves to
// node 1 at 20, has lose take its master away once it has counted to 30
// there, and checks that every number arrives once.
func runMovedCounter(t *testing.T, c *cluster, lose func()) {
	t.Helper()
	bin := testProgram(t, "movecount")
	var out, errb syncBuffer
	cmd := c.command("bpsh", "0", bin, "240", "20")
	cmd.Dir = "/"
	startRecorded(t, cmd, &out, &errb)
	waitOutput(t, &out, "\n30\n") // on node 1 since 20
	lose()
	if err := waitCmd(cmd, 40*time.Second); err != nil {
		t.Fatalf("bpsh of the moved counter: %v; stderr %q; output %q", err, errb.String(), out.String())
	}
	wantCount(t, out.String(), 240)
}
