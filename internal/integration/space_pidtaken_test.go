package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSpacePIDTaken: a fork whose ghost's PID is taken on the node (here
// by a thread of a process outside the space, as bpslave's own threads
// take it under load) still makes a ghost: the child runs under another
// PID, the master's table maps the ghost to it, a signal to the ghost
// reaches it and its status reaches the ghost and its parent on the node.
func TestSpacePIDTaken(t *testing.T) {
	spaceOn(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	c := startCluster(t, 1, "--no-diskless")
	slave := c.nodePID(t, 0)
	for attempt := 1; ; attempt++ {
		if attempt > 5 {
			t.Fatal("every child kept its ghost's PID: this machine made more than the held window of PIDs meanwhile")
		}
		if spacePIDTakenOnce(t, c, slave) {
			t.Logf("attempt %d", attempt)
			return
		}
	}
}

// spacePIDTakenOnce forks two children on node 0 with the next of this
// machine's PIDs held on the node; false if both kept their ghost's PID
// (the window was missed).
func spacePIDTakenOnce(t *testing.T, c *cluster, slave int) bool {
	t.Helper()
	// A pipe of the kernel's: bpsh gets it as is, and Wait does not
	// wait for a copy of it.
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	j := startSpaceJobIn(t, c, `echo $$; read go; sleep 300 & A=$!; sleep 300 & B=$!; echo $A $B
		wait $A; echo A=$?; wait $B; echo B=$?`, in)
	in.Close()
	shNode := pids(t, j.line(t))[0]
	release := holdNodePIDs(t, slave, 2000)
	defer release()
	fmt.Fprintln(inW, "go")
	inW.Close()
	p := pids(t, j.line(t))
	a, b := p[0], p[1]
	ghostOf := map[int]int{}
	var sh int
	waitFor(t, "the children's ghosts in the master's table", func() bool {
		procs, err := c.client().Procs()
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range procs {
			ghostOf[pr.NodePID] = pr.PID
		}
		sh = ghostOf[shNode]
		return ghostOf[a] != 0 && ghostOf[b] != 0 && sh != 0
	})
	ga, gb := ghostOf[a], ghostOf[b]
	if ga == a && gb == b {
		syscall.Kill(ga, syscall.SIGKILL)
		syscall.Kill(gb, syscall.SIGKILL)
		j.cmd.Wait()
		c.waitNoProcs()
		return false
	}
	t.Logf("node PIDs %d, %d have ghosts %d, %d", a, b, ga, gb)
	for _, g := range []int{ga, gb} {
		if pp := ppid(g); pp != sh {
			t.Errorf("ghost %d: parent %d, want the shell's ghost %d", g, pp, sh)
		}
	}
	exitA, exitB := ghostExit(t, ga), ghostExit(t, gb)
	syscall.Kill(ga, syscall.SIGTERM)
	if l := j.line(t); l != "A=143" {
		t.Errorf("the shell's wait for the first child: %q, want A=143", l)
	}
	if ws := exitA(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("ghost %d: %#x, want killed by SIGTERM", ga, uint32(ws))
	}
	syscall.Kill(gb, syscall.SIGUSR1)
	if l := j.line(t); l != "B=138" {
		t.Errorf("the shell's wait for the second child: %q, want B=138", l)
	}
	if ws := exitB(); !ws.Signaled() || ws.Signal() != syscall.SIGUSR1 {
		t.Errorf("ghost %d: %#x, want killed by SIGUSR1", gb, uint32(ws))
	}
	if err := j.cmd.Wait(); err != nil {
		t.Errorf("bpsh: %v", err)
	}
	c.waitNoProcs()
	return true
}

// holdNodePIDs takes the PIDs that this machine hands out next on node
// (its bpslave's PID namespace) with the n threads of one process there,
// outside the process space; the returned func ends it. Each thread takes
// a PID of this machine's too (the node's namespace is nested in it):
// this machine's next n go to them, and a machine busy with other work
// makes some more. The node's PIDs from 3/4 n on are held: this
// machine's next PID after the threads' is among them while the others
// took fewer than 3/4 n meanwhile.
func holdNodePIDs(t *testing.T, slave, n int) func() {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := strconv.Atoi(strings.TrimSpace(string(b)))

	script := fmt.Sprintf(`
import threading, sys
open("/proc/sys/kernel/ns_last_pid", "w").write("%d")
threading.stack_size(65536)
ev = threading.Event()
for _ in range(%d):
    threading.Thread(target=ev.wait, daemon=True).start()
print("held", flush=True)
sys.stdin.read()`, last+n*3/4, n)
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(slave), "-p", "--", "python3", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { stdin.Close(); syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	t.Cleanup(stop)
	if l, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(l) != "held" {
		t.Fatalf("the node's PID holder said %q", l)
	}
	return stop
}
