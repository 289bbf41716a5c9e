package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunFromNode: bpsh and bprsh run from a process on a node (Open
// MPI's tree spawn runs its rsh agent there). The master starts the
// ghosts, as the user the node saw, and joins their stdio to the caller
// through the node: output, input and exit statuses come back, and a
// user's nested bpsh runs as that user. The master used to refuse ("run:
// not from a node").
func TestRunFromNode(t *testing.T) {
	c := startCluster(t, 2)
	check := func(r result, what, want string, code int) {
		t.Helper()
		if r.code != code || strings.TrimSpace(r.stdout) != want {
			t.Errorf("%s: exit %d, output %q (stderr %q), want exit %d, %q", what, r.code, r.stdout, r.stderr, code, want)
		}
	}
	check(c.runIn("/", "bpsh", "0", binary, "bpsh", "1", "hostname"), "bpsh 0 bpsh 1 hostname", "n1", 0)
	check(c.runIn("/", "bprsh", "n0", binary, "bprsh", "n1", "hostname"), "bprsh n0 bprsh n1 hostname", "n1", 0)
	check(c.runIn("/", "bpsh", "0", binary, "bpsh", "1", "sh", "-c", "echo out; echo err >&2; exit 7"), "bpsh 0 bpsh 1 exit 7", "out", 7)
	check(c.run("hello\n", "bpsh", "0", binary, "bpsh", "1", "cat"), "echo hello | bpsh 0 bpsh 1 cat", "hello", 0)
	r := c.runIn("/", "bpsh", "0", binary, "bpsh", "1", "sh", "-c", "echo err >&2")
	if strings.TrimSpace(r.stderr) != "err" {
		t.Errorf("bpsh 0 bpsh 1 (echo err >&2): stderr %q, want \"err\"", r.stderr)
	}

	// SIGINT to the outer bpsh reaches the inner one, which passes it on
	// through the master by its ghost's PID: both end as sleep did.
	cmd := c.startBpsh(t, "0", binary, "bpsh", "1", "sleep", "30")
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, _ := c.client().Procs()
		if len(procs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bpsh 0 bpsh 1 sleep 30: %d remote processes after 10 s, want 2", len(procs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	ended := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := cmd.Process.Wait()
		ended <- st
	}()
	select {
	case st := <-ended:
		if st == nil {
			t.Fatal("bpsh 0 bpsh 1 sleep 30: wait failed")
		}
		if ws, _ := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("bpsh 0 bpsh 1 sleep 30, SIGINT to the outer bpsh: %v, want killed by SIGINT", st)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("bpsh 0 bpsh 1 sleep 30: still running 10 s after SIGINT")
	}
	c.waitNoProcs()

	bin := userBinary(t)
	check(c.as(t, bin, 65534, "bpsh", "0", bin, "bpsh", "1", "id", "-u"), "bpsh 0 bpsh 1 id -u as 65534", "65534", 0)
	c.waitNoProcs()
	// The ghosts the master started are its children: reaped, none left.
	deadline = time.Now().Add(5 * time.Second)
	for len(c.slavePIDs()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the master has %d children 5 s after its jobs ended, want its 2 nodes", len(c.slavePIDs()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
