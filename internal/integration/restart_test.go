package integration

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestHelloFutureProtocol: a node that claims a protocol version newer
// than the master's is refused with one line, to it and in the log; the
// master and its other nodes go on.
func TestHelloFutureProtocol(t *testing.T) {
	c := startCluster(t, 1, "--nodes", "2")
	node, err := dialWithToken(t, c, 1, c.nodeToken(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	ok, payload, err := node.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc", Protocol: wire.Protocol + 7}))
	want := "node 1: protocol version 11 is newer than this binary speaks; upgrade the master first (it speaks 1 to 4)"
	if wire.Protocol != 4 {
		t.Fatalf("update this test's message for protocol %d", wire.Protocol)
	}
	if err != nil || ok || string(payload) != want {
		t.Errorf("hello with protocol %d: ok %v, %q, %v; want refused with %q", wire.Protocol+7, ok, payload, err, want)
	}
	c.waitLog(t, regexp.MustCompile(`refused node hello" node=1 reason="`+regexp.QuoteMeta(want)+`"`))
	if r := c.run("", "bpsh", "0", "echo", "still here"); r.stdout != "still here\n" {
		t.Errorf("node 0 after the refusal: %q %q", r.stdout, r.stderr)
	}
	// An old node (no protocol field) is still spoken to.
	node2, err := dialWithToken(t, c, 1, c.nodeToken(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	ok, payload, err = node2.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc"}))
	var hr wire.HelloReply
	if err != nil || !ok || wire.Decode("reply", payload, &hr) != nil || wire.ProtocolOf(hr.Protocol) != 1 {
		t.Errorf("hello without a protocol: ok %v, %q, %v; want protocol 1", ok, payload, err)
	}
}

// counter is a remote shell that prints 0 to n-1, one a tenth of a second.
func counter(n int) []string {
	return []string{"sh", "-c", fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo $i; i=$((i+1)); sleep 0.1; done", n)}
}

// wantCount checks that out is 0 to n-1, each once, in order.
func wantCount(t *testing.T, out string, n int) {
	t.Helper()
	var want strings.Builder
	for i := range n {
		fmt.Fprintln(&want, i)
	}
	if out != want.String() {
		t.Errorf("output is not 0 to %d once each:\n%q", n-1, out)
	}
}

// pauseMaster stops the master with SIGSTOP for d, longer than the ping
// timeout: its nodes give it up. It is continued even if the test fails.
func pauseMaster(t *testing.T, c *cluster, d time.Duration) {
	t.Helper()
	pid := c.master.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	time.Sleep(d)
}

// waitOutput waits until the buffer holds want.
func waitOutput(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after 20 s: %q", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMasterPause: a master paused (SIGSTOP) past the ping timeout, then
// continued, kills no remote process: the node keeps them for the grace
// time and the master takes them back. A process streaming a counter
// loses no number and repeats none; a signal sent to a ghost while its
// node is away reaches the process once it is back.
func TestMasterPause(t *testing.T) {
	c := startCluster(t, 2, "--no-diskless", "--node-grace", "60s")
	var out syncBuffer
	count := c.command("bpsh", append([]string{"0"}, counter(80)...)...)
	count.Stdout, count.Stderr = &out, &out
	sleeper := c.command("bpsh", "1", "sleep", "60")
	for _, cmd := range []*exec.Cmd{count, sleeper} {
		cmd.WaitDelay = 5 * time.Second // a ghost left behind holds the pipes
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
	}
	waitOutput(t, &out, "\n10\n")
	var ghost int
	for _, p := range waitProcs(t, c, 2) {
		if p.Node == 1 {
			ghost = p.PID
		}
	}
	pauseMaster(t, c, 5*time.Second) // pingtimeout 2s
	// The master cannot hear the ghost's signal yet: the node it goes
	// to is away, and comes back only after the master does.
	syscall.Kill(ghost, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	select {
	case <-done:
		if code := sleeper.ProcessState.Sys().(syscall.WaitStatus); code.Signal() != syscall.SIGTERM {
			t.Errorf("bpsh of the signalled sleep: %v, want killed by SIGTERM", sleeper.ProcessState)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("the SIGTERM sent to a ghost while its node was away never reached it")
	}
	if err := waitCmd(count, 30*time.Second); err != nil {
		t.Fatalf("bpsh of the counter: %v; output %q", err, out.String())
	}
	wantCount(t, out.String(), 80)
	c.waitLog(t, regexp.MustCompile(`remote process taken back`))
	if strings.Contains(c.log.String(), "Slave node died") {
		t.Errorf("a process was reported dead")
	}
}

// TestMasterPausePastGrace: a master paused past the nodes' grace time
// finds its nodes' processes ended; their ghosts end as BProc's did, with
// "Slave node died".
func TestMasterPausePastGrace(t *testing.T) {
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "2s")
	cmd := c.command("bpsh", "0", "sleep", "60")
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitProcs(t, c, 1)
	pauseMaster(t, c, 8*time.Second) // 2 s to give the master up, 2 s of grace, the rest past it
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("bpsh still runs 20 s after the grace time ended")
	}
	if !strings.Contains(errb.String(), "Slave node died") {
		t.Errorf("bpsh's stderr: %q, want Slave node died", errb.String())
	}
}

// waitProcs waits until the master knows n remote processes or more (a
// remote shell's children have ghosts too).
func waitProcs(t *testing.T, c *cluster, n int) []localapi.Proc {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		procs, err := c.client().Procs()
		if err == nil && len(procs) >= n {
			return procs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master knows %d remote processes after 20 s, want %d or more (err %v)", len(procs), n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startRecorded starts cmd, a bpsh meant to outlive its master for a
// while, its output into out and its errors into errb. A ghost left
// behind holds the pipes: Wait gives up on them after 5 s. It is killed
// when the test ends.
func startRecorded(t *testing.T, cmd *exec.Cmd, out, errb *syncBuffer) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
}

// waitCmd waits for cmd, killing it after d.
func waitCmd(cmd *exec.Cmd, d time.Duration) error {
	t := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer t.Stop()
	return cmd.Wait()
}

// TestMasterPauseBigOutput: output written while the master is away is
// held on the node up to its bound, then the writer blocks; once the
// master is back every byte arrives, in order, once.
func TestMasterPauseBigOutput(t *testing.T) {
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "60s")
	var out syncBuffer
	// 10.9 MB, more than the node holds (4 MiB and a pipe), written from
	// the second second of the pause on.
	cmd := c.command("bpsh", "0", "sh", "-c", "sleep 1; seq 1 1500000")
	cmd.Stdout = &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitProcs(t, c, 1)
	pauseMaster(t, c, 5*time.Second)
	if err := waitCmd(cmd, 30*time.Second); err != nil {
		t.Fatalf("bpsh: %v; %d bytes of output", err, len(out.String()))
	}
	want, err := exec.Command("seq", "1", "1500000").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("output: %d bytes, want seq's %d, the same", len(got), len(want))
	}
	c.waitLog(t, regexp.MustCompile(`remote process taken back`))
}
