package integration

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSignalWhileStarting: a signal sent through the master (OpSignal, as
// bpsh on a node passes its SIGINT on) to a process the master knows but
// whose node has not started it yet reaches it once it runs. The master
// used to hold it as for a node that is away, and never sent it: 1 run in
// 12 of TestRunFromNode's SIGINT found the inner bpsh's sleep there. The
// node is held in the start by stdin from a FIFO in its own /tmp (-I),
// which it opens before it starts the process, until a writer opens it.
func TestSignalWhileStarting(t *testing.T) {
	c := startCluster(t, 1)
	const fifo = "/tmp/bproc-test-start-fifo"
	if r := c.run("", "bpsh", "0", "mkfifo", fifo); r.code != 0 {
		t.Fatalf("bpsh 0 mkfifo %s: exit %d, %q", fifo, r.code, r.stderr)
	}
	cmd := c.startBpsh(t, "-I", fifo, "0", "sleep", "30")
	// Cleanups run last first: the start is let go before the bpsh is
	// reaped, whose ghost's stdio the master holds until then.
	opened := false
	openFIFO := func() {
		if !opened {
			opened = true
			c.run("", "bpsh", "0", "sh", "-c", "exec 3>"+fifo)
		}
	}
	t.Cleanup(openFIFO)
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if procs, _ := c.client().Procs(); len(procs) == 1 {
			pid = procs[0].PID
		} else if time.Now().After(deadline) {
			t.Fatalf("bpsh -I fifo 0 sleep 30: %d remote processes after 10 s, want 1", len(procs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.client().Signal(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("signal %d while its node starts it: %v", pid, err)
	}
	openFIFO() // the node starts sleep now
	ended := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := cmd.Process.Wait()
		ended <- st
	}()
	select {
	case st := <-ended:
		if ws, _ := st.Sys().(syscall.WaitStatus); st == nil || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("bpsh -I fifo 0 sleep 30, SIGTERM while starting: %v, want killed by SIGTERM (stderr %q)", st, stderrOf(cmd))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("bpsh -I fifo 0 sleep 30: still running 10 s after SIGTERM sent while its node started it")
	}
	c.waitNoProcs()
}
