package integration

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMasterKilledMidWrite: a master killed just after it wrote output to
// a ghost's descriptor, before the ghost heard of it, repeats nothing
// after the restart. The ghost is stopped (SIGSTOP) while a counter
// streams in small writes, so that what the master tells it piles up in
// its socket until the master blocks there, right after a write (the old
// design: write to the descriptor, then a note of the count to the
// ghost); killed there, the master's last write was never noted. Every
// number must still arrive once.
func TestMasterKilledMidWrite(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	var out, errb syncBuffer
	const n = 60000
	script := []string{"sh", "-c", "i=0; while [ $i -lt 60000 ]; do echo $i; i=$((i+1)); done"}
	cmd := c.command("bpsh", append([]string{"0"}, script...)...)
	startRecorded(t, cmd, &out, &errb)
	procs := waitStarted(t, c, 1)
	gpid := procs[0].PID
	waitOutput(t, &out, "\n100\n")
	if err := syscall.Kill(gpid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(gpid, syscall.SIGCONT)
	// The output stops once the master blocks on the stopped ghost.
	waitStill(t, &out, time.Second)
	if strings.HasSuffix(out.String(), "\n59999\n") {
		t.Fatal("the counter ended before the master blocked")
	}
	t.Logf("stalled at %d bytes", len(out.String()))
	c.master.Process.Kill()
	c.master.Wait()
	syscall.Kill(gpid, syscall.SIGCONT)
	c.launch()
	waitListening(t, c)
	err := waitCmd(cmd, 60*time.Second)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("bpsh: %v; stderr %q", err, errb.String())
	}
	if err != nil {
		t.Errorf("bpsh: %v; stderr %q", err, errb.String())
	}
	checkCount(t, out.String(), n)
}

// checkCount checks that out is 0 to n-1, each once, in order, and says
// where it is not.
func checkCount(t *testing.T, out string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i) {
			t.Errorf("output line %d is %q, want %d (%d lines, want %d); around it: %q", i, l, i, len(lines), n, lines[max(0, i-3):min(len(lines), i+3)])
			return
		}
	}
	if len(lines) != n {
		t.Errorf("output has %d lines, want %d", len(lines), n)
	}
}

// waitStill waits until b has not grown for d.
func waitStill(t *testing.T, b *syncBuffer, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, since := len(b.String()), time.Now()
	for time.Since(since) < d {
		if time.Now().After(deadline) {
			t.Fatalf("the output still grows after 30 s (%d bytes)", last)
		}
		time.Sleep(50 * time.Millisecond)
		if l := len(b.String()); l != last {
			last, since = l, time.Now()
		}
	}
}
