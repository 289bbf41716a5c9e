package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The namespace nodes of --local-nodes outlive a master killed with
// SIGKILL, and the next master on the same state directory takes them
// back with their processes; a clean stop still stops them; a master never
// started again leaves nothing once the grace time is over
// (internal/master/nodes_local_keep.go, internal/node/orphan.go).

// startLocalJob starts a cluster of diskless local nodes (one per element
// of n) on a fixed address and, on node 0, a process that waits for
// /tmp/go on its node and exits 5.
func startLocalJob(t *testing.T, n string, grace string) (*cluster, *exec.Cmd, *syncBuffer, []int) {
	t.Helper()
	c := startCluster(t, len(strings.Split(n, ",")), "--node-grace", grace, "--listen", freeAddr(t))
	cmd := c.command("bpsh", "0", "sh", "-c", "echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 5")
	errb, out := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Loaded (a diskless node reads its libraries through the view)
	// and in its loop.
	waitOutput(t, out, "ready\n")
	return c, cmd, errb, c.slavePIDs()
}

// TestMasterKilledLocalNodes: after bpmaster --local-nodes is killed, its
// nodes and their processes live on; the next master takes the same
// nodes back (no second bpslave per node), and the process ends with its
// own status through it.
func TestMasterKilledLocalNodes(t *testing.T) {
	c, cmd, errb, slaves := startLocalJob(t, "0,1", "60s")
	killRestart(t, c, time.Second)
	c.taken = slaves
	for _, pid := range slaves {
		if !running(pid) {
			t.Fatalf("local node bpslave %d died with its master", pid)
		}
	}
	c.waitSettled()
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted`))
	if kids := children(c.master.Process.Pid); len(kids) != 0 {
		t.Errorf("the new master started nodes %v beside the ones it took back", kids)
	}
	if r := c.run("", "bpsh", "0", "touch", "/tmp/go"); r.code != 0 {
		dumpStacks(t, c, slaves)
		t.Fatalf("bpsh 0 touch on the taken node: exit %d, %q", r.code, r.stderr)
	}
	err := waitCmd(cmd, 20*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("bpsh of the process on the local node: %v, want exit 5; stderr %q", err, errb.String())
	}
	// The cleanup's stop checks that the taken nodes end with this master.
}

// TestMasterStoppedLocalNodes: a master stopped cleanly (SIGTERM) stops
// its namespace nodes as it always did: their processes end, and their
// ghosts at once (exit 137), not waiting for a next master.
func TestMasterStoppedLocalNodes(t *testing.T) {
	c, cmd, errb, _ := startLocalJob(t, "0", "60s")
	c.stop() // checks that the nodes are gone
	began := time.Now()
	err := waitCmd(cmd, 10*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGKILL) || time.Since(began) > 5*time.Second {
		t.Errorf("bpsh on a local node of a stopped master: %v after %v, want exit 137 at once; stderr %q", err, time.Since(began).Round(time.Millisecond), errb.String())
	}
}

// TestMasterKilledLocalNodesOrphaned: local nodes whose master is killed
// and never started again end once the grace time is over.
func TestMasterKilledLocalNodesOrphaned(t *testing.T) {
	c, cmd, _, slaves := startLocalJob(t, "0", "3s")
	c.master.Process.Kill()
	c.master.Wait()
	t.Cleanup(func() {
		for _, pid := range slaves {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	time.Sleep(time.Second)
	for _, pid := range slaves {
		if !running(pid) {
			t.Fatalf("local node bpslave %d died with its master at once", pid)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range slaves {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("local node bpslave %d still runs 20 s after its master was killed (grace 3 s)", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := waitCmd(cmd, 10*time.Second); err == nil {
		t.Errorf("bpsh of a process on a node that ended: exit 0")
	}
}

// TestMasterKilledLocalNodesPaused: a namespace node that a next master
// took back waits for that master while it is paused past the grace
// time, as a node it started would: it is not an orphan of the master
// killed before (its parent-death signal), and comes back to the
// master once it goes on.
func TestMasterKilledLocalNodesPaused(t *testing.T) {
	c := startCluster(t, 1, "--node-grace", "3s", "--listen", freeAddr(t))
	slaves := c.slavePIDs()
	killRestart(t, c, time.Second)
	c.taken = slaves
	c.waitSettled()
	c.waitLog(t, regexp.MustCompile(`local node of a previous master taken back`))
	if r := c.run("", "bpsh", "0", "true"); r.code != 0 {
		t.Fatalf("bpsh 0 true on the taken node: exit %d, %q", r.code, r.stderr)
	}
	// Ping timeout 2 s, grace 3 s; a node dialing a paused master waits
	// out the handshake's 30 s before it asks itself whether to end.
	pauseMaster(t, c, 36*time.Second)
	for _, pid := range slaves {
		if !running(pid) {
			t.Fatalf("taken local node bpslave %d ended while its master was paused", pid)
		}
	}
	// The node dials again once its dial into the pause has failed: up
	// within the handshake's 30 s.
	deadline := time.Now().Add(40 * time.Second)
	for {
		r := c.run("", "bpsh", "0", "true")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bpsh 0 true on the taken node 40 s after the pause: exit %d, %q", r.code, r.stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, pid := range slaves {
		if !running(pid) {
			t.Errorf("taken local node bpslave %d replaced after the pause", pid)
		}
	}
}

// dumpStacks has the Go runtime of each of the nodes pids, of what runs
// under them and of the master print its goroutines (SIGQUIT) into the
// cluster's log, and waits for them to end: what they were doing when a
// test failed on them, which their logs alone do not tell.
func dumpStacks(t *testing.T, c *cluster, pids []int) {
	t.Helper()
	for _, pid := range pids {
		t.Logf("node bpslave %d, its threads and the processes under it:\n%s", pid, procTree(pid))
	}
	if out, err := exec.Command("ss", "-tanp").CombinedOutput(); err == nil {
		t.Logf("TCP sockets:\n%s", out)
	}
	// All at once, so that each prints what it was doing while the
	// others still ran: a node dies of the signal, and its view with it.
	c.master.Process.Signal(syscall.SIGQUIT)
	for _, pid := range pids {
		for _, kid := range children(pid) {
			syscall.Kill(kid, syscall.SIGQUIT)
		}
		syscall.Kill(pid, syscall.SIGQUIT)
	}
	pids = append(pids, c.master.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("sent SIGQUIT to the nodes %v: their goroutines are in the log", pids)
}

// procTree describes pid's threads and every process under it: state,
// the call each thread is in (/proc/PID/syscall) and where the kernel
// holds it (wchan).
func procTree(pid int) string {
	var b strings.Builder
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		dir := fmt.Sprintf("/proc/%d", pid)
		comm, _ := os.ReadFile(dir + "/comm")
		fmt.Fprintf(&b, "%*sprocess %d %s\n", 2*depth, "", pid, strings.TrimSpace(string(comm)))
		tasks, _ := os.ReadDir(dir + "/task")
		for _, task := range tasks {
			td := dir + "/task/" + task.Name()
			stat, _ := os.ReadFile(td + "/stat")
			state := "?"
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
				state = string(stat[i+2])
			}
			sc, _ := os.ReadFile(td + "/syscall")
			wchan, _ := os.ReadFile(td + "/wchan")
			fmt.Fprintf(&b, "%*s  thread %s %s syscall %s wchan %s\n", 2*depth, "", task.Name(), state, strings.TrimSpace(string(sc)), wchan)
		}
		for _, task := range tasks {
			kids, _ := os.ReadFile(dir + "/task/" + task.Name() + "/children")
			for _, k := range strings.Fields(string(kids)) {
				if kid, err := strconv.Atoi(k); err == nil {
					walk(kid, depth+1)
				}
			}
		}
	}
	walk(pid, 0)
	return b.String()
}
