package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// TestSlaveKilled: a node's bpslave killed with SIGKILL in the middle of a
// bpsh -a. Its rank ends as killed by SIGKILL with "Slave node died", the
// other nodes' processes run on and end with their own status, no ghost
// or remote process is left, and the master starts the node again: it
// goes through boot to up with a clean process table.
func TestSlaveKilled(t *testing.T) {
	// A setup script that takes a second keeps a node in boot long enough
	// to be seen there.
	c := startCluster(t, 3, "--node-up-dir", slowSetup(t))
	states := recordStates(t, c)
	old := c.nodePID(t, 0)

	const script = "sleep 8.25; echo finished; exit 3"
	job, stdout := c.startBpshOut(t, "-a", "--gather", "sh", "-c", script)
	// Every node's shell is in its sleep: 3 remote sleeps.
	waitFor(t, "the remote sleeps", func() bool { return len(remotePgrep("sleep", "8.25")) == 3 })
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Node 0's ghost goes at once; the other two are still running.
	waitFor(t, "node 0's ghost gone", func() bool { return len(children(job.Process.Pid)) == 2 })
	// The kernel kills what is left in the node's namespace only once
	// its PID 1 has finished dying, after that closed its connection:
	// the master can end the ghost a moment before node 0's sleep goes.
	// Two seconds, well inside the sleeps' own 8.25.
	for deadline := time.Now().Add(2 * time.Second); len(remotePgrep("sleep", "8.25")) > 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(remotePgrep("sleep", "8.25")); n != 2 {
		t.Errorf("remote sleeps right after node 0 died: %d, want nodes 1 and 2's", n)
	}

	err := job.Wait()
	stderr := stderrOf(job)
	if exitCode(err) != 137 {
		t.Errorf("bpsh -a with node 0 killed: %v, want exit 137 (the largest: SIGKILL); stderr %q", err, stderr)
	}
	if !strings.Contains(stderr, "0: Slave node died\n") {
		t.Errorf("bpsh -a stderr = %q, want 0: Slave node died", stderr)
	}
	if want := "bpsh: failed: n0 (1) killed by SIGKILL; n[1-2] (2) exit 3\n"; !strings.Contains(stderr, want) {
		t.Errorf("bpsh -a stderr = %q, want the summary %q", stderr, want)
	}
	if out := stdout.String(); !strings.Contains(out, "n[1-2] (2)\n") || strings.Count(out, "finished\n") != 1 {
		t.Errorf("bpsh -a --gather stdout = %q, want one block of nodes 1-2 with finished", out)
	}
	// Nothing is left of the job: no ghost, no remote process, nothing
	// the master knows of.
	if n := len(pgrep("sh", "-c", script)) + len(pgrep("sleep", "8.25")); n != 0 {
		t.Errorf("%d processes of the job left after bpsh ended", n)
	}
	c.waitNoProcs()

	// The master starts the node again, and it comes up empty.
	c.waitLog(t, regexp.MustCompile(`local node exited; restarting" node=0`))
	var fresh int
	waitWithin(t, "node 0 started again", 60*time.Second, func() bool {
		pids := c.nodePIDs(0)
		if len(pids) < 2 {
			return false
		}
		fresh = pids[len(pids)-1]
		return true
	})
	if fresh == old {
		t.Errorf("node 0 restarted with the dead bpslave's PID %d", old)
	}
	// Up in the master's table, and seen so by the recorder (which may
	// lag behind it), after at least one other state.
	waitWithin(t, "node 0 up again", 60*time.Second, func() bool {
		return nodeState(c, 0) == "up" && len(states.seq(0)) >= 3 && states.last(0) == "up"
	})
	if seq := states.seq(0); !slices.Equal(seq, []string{"up", "down", "boot", "up"}) {
		t.Errorf("node 0's states = %v, want up down boot up", seq)
	}
	for _, n := range []int{1, 2} {
		if seq := states.seq(n); !slices.Equal(seq, []string{"up"}) {
			t.Errorf("node %d's states while node 0 died = %v, want up throughout", n, seq)
		}
	}
	checkCleanNode(t, c, 0)
}

// TestSilentNode: a node whose bpslave is stopped (SIGSTOP: it answers
// nothing, its connection stays open) is dropped by the master within a
// few ping intervals (startCluster gives --ping-timeout 2s: a ping each
// second, dropped after two unanswered); the ghost of its process exits
// as killed by SIGKILL, and the other nodes and their processes are
// untouched. Woken up (SIGCONT), the same bpslave finds its connection
// gone, kills its remote processes and comes back up with none.
func TestSilentNode(t *testing.T) {
	// nodegrace 0: the node is given up at once (TestMasterPause: kept).
	c := startCluster(t, 3, "--node-grace", "0")
	states := recordStates(t, c)
	slave := c.nodePID(t, 0)
	t.Cleanup(func() { syscall.Kill(slave, syscall.SIGCONT) }) // before the cluster stops

	victim := c.startBpsh(t, "0", "sleep", "307.5")
	waitRemote(t, "sleep", "307.5")
	remote := inNamespaceOf(slave, pgrep("sleep", "307.5"))
	if len(remote) != 1 {
		t.Fatalf("processes of sleep 307.5 in node 0's PID namespace: %v, want one", remote)
	}
	// Long enough to outlast the steps below on a loaded machine (7.25 s
	// did not, once).
	const script = "sleep 20.25; exit 5"
	others := c.startBpsh(t, "1-2", "sh", "-c", script)
	waitFor(t, "the remote sleeps on nodes 1-2", func() bool { return len(remotePgrep("sleep", "20.25")) == 2 })

	if err := syscall.Kill(slave, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- victim.Wait() }()
	var err error
	select {
	case err = <-ended:
	case <-time.After(30 * time.Second):
		t.Fatalf("the ghost on a silent node still there 30 s later (ping timeout 2 s); bpsh stderr %q", stderrOf(victim))
	}
	t.Logf("ghost ended %v after node 0 went silent", time.Since(began).Round(time.Millisecond))
	if exitCode(err) != 137 || !strings.Contains(stderrOf(victim), "0: Slave node died\n") {
		t.Errorf("bpsh on a node that went silent: %v, stderr %q; want 137 and 0: Slave node died", err, stderrOf(victim))
	}
	c.waitState(t, "0", "down")

	// The master forgot node 0's process and kept the others'.
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	var on []int
	for _, p := range procs {
		on = append(on, p.Node)
	}
	// Each shell's sleep is in the table too (the whole process space).
	slices.Sort(on)
	if on = slices.Compact(on); !slices.Equal(on, []int{1, 2}) {
		t.Errorf("remote processes on nodes %v while node 0 is down, want 1 and 2", on)
	}
	// Frozen, the node could not kill its process yet: it runs on.
	if !alive(remote[0]) {
		t.Errorf("the remote sleep %d of a stopped node is gone already", remote[0])
	}

	// Woken up, the node finds its master gone, kills its process and
	// reconnects: the same bpslave, not a new one.
	syscall.Kill(slave, syscall.SIGCONT)
	waitWithin(t, "the stopped node's remote sleep killed", 30*time.Second, func() bool { return !alive(remote[0]) })
	// The master's own table: the recorder may not have seen the down yet.
	waitWithin(t, "node 0 up again", 60*time.Second, func() bool { return nodeState(c, 0) == "up" })
	if pids := c.nodePIDs(0); len(pids) != 1 || !alive(slave) {
		t.Errorf("node 0's bpslaves = %v, want %d reconnected, not restarted", pids, slave)
	}
	checkCleanNode(t, c, 0)

	if err := others.Wait(); exitCode(err) != 5 || stderrOf(others) != "" {
		t.Errorf("nodes 1-2 while node 0 went silent: %v, stderr %q; want exit 5 and nothing said", err, stderrOf(others))
	}
	for _, n := range []int{1, 2} {
		if seq := states.seq(n); !slices.Equal(seq, []string{"up"}) {
			t.Errorf("node %d's states while node 0 went silent = %v, want up throughout", n, seq)
		}
	}
	c.waitNoProcs()
}

// TestMasterSilent: nodes cut off from their master (here the master is
// stopped, so it answers no ping) kill their remote processes after two
// ping intervals, on their own, while the master still cannot tell them
// anything; even processes that wait on a file from the master at that
// moment (they died only when TCP gave up, minutes later, before nodeview
// learnt to drop its files connection with bpslave's). When the master
// wakes, the ghosts die as killed by SIGKILL and the nodes come back up
// empty.
func TestMasterSilent(t *testing.T) {
	// nodegrace 0: the processes end at once (TestMasterPause: kept).
	c := startCluster(t, 2, "--node-grace", "0")
	master := c.master.Process.Pid
	slaves := []int{c.nodePID(t, 0), c.nodePID(t, 1)}

	// Each remote shell opens a large file of the master's, which the view
	// fetches while the open waits, and the master is stopped during the
	// fetch: the shell waits on the view (in the kernel's FUSE wait, which
	// a signal does not end), and the view on the silent master.
	big := filepath.Join(publicTempDir(t), "big")
	// A line, then zeros (sparse): read stops at the newline, the fetch
	// takes the whole 256 MiB (about a second here).
	if err := os.WriteFile(big, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 256<<20); err != nil {
		t.Fatal(err)
	}
	script := "read x < " + big + "; sleep 308.5"
	t0 := time.Now()
	job := c.startBpsh(t, "-a", "sh", "-c", script)
	// Before bpsh is reaped and the cluster stopped: the master holds the
	// ghosts' stdio, and bpsh's Wait waits for every copy of it to close.
	t.Cleanup(func() { syscall.Kill(master, syscall.SIGCONT) })
	var remote []int
	for _, s := range slaves {
		waitFor(t, fmt.Sprintf("the remote shell in bpslave %d's PID namespace", s), func() bool {
			return len(inNamespaceOf(s, pgrep("sh", "-c", script))) == 1
		})
		remote = append(remote, inNamespaceOf(s, pgrep("sh", "-c", script))[0])
	}
	waitFor(t, "both remote shells waiting on the view", func() bool {
		return onView(remote[0]) && onView(remote[1])
	})
	t.Logf("both remote shells waiting on the view %v after bpsh started", time.Since(t0).Round(time.Millisecond))

	if err := syscall.Kill(master, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for alive(remote[0]) || alive(remote[1]) {
		if time.Now().After(deadline) {
			for _, p := range remote {
				t.Errorf("remote process %d still there 30 s after the master went silent: state %s, waiting in %s", p, procState(p), wchan(p))
			}
			t.FailNow()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("remote processes killed %v after the master went silent", time.Since(began).Round(time.Millisecond))
	// It was the nodes: the master is still stopped, and the ghosts, which
	// only it could end, are still there.
	if s := procState(master); s != "T" {
		t.Errorf("master state %q while the nodes gave up on it, want T (stopped)", s)
	}
	if n := len(children(job.Process.Pid)); n != 2 {
		t.Errorf("bpsh has %d ghosts while the master is stopped, want 2", n)
	}
	for _, n := range []string{"0", "1"} {
		c.waitLog(t, regexp.MustCompile(`master silent for two ping intervals; dropping the connection"[^\n]* node=`+n+`\b`))
	}

	syscall.Kill(master, syscall.SIGCONT)
	ended := make(chan error, 1)
	go func() { ended <- job.Wait() }()
	select {
	case err := <-ended:
		e := stderrOf(job)
		if exitCode(err) != 137 || !strings.Contains(e, "0: Slave node died\n") || !strings.Contains(e, "1: Slave node died\n") {
			t.Errorf("bpsh -a after its nodes gave up on the master: %v, stderr %q; want 137 and both nodes died", err, e)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("bpsh still running 30 s after the master woke; stderr %q", stderrOf(job))
	}
	for _, n := range []int{0, 1} {
		waitWithin(t, fmt.Sprintf("node %d up again", n), 60*time.Second, func() bool { return nodeState(c, n) == "up" })
		checkCleanNode(t, c, n)
	}
	c.waitNoProcs()
}

// startBpshOut is startBpsh that keeps bpsh's stdout too.
func (c *cluster) startBpshOut(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := c.command("bpsh", args...)
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, &syncBuffer{}
	return startReaped(t, cmd), stdout
}

// slowSetup is a node_up.d whose one script takes a second.
func slowSetup(t *testing.T) string {
	t.Helper()
	// Outside /tmp: a namespace node has a /tmp of its own.
	dir, err := os.MkdirTemp("/var/lib", "bproc-test-node_up.d-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "10-slow"), []byte("#!/bin/sh\nsleep 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// nodePIDs are the PIDs node num's bpslave was started with, in order.
func (c *cluster) nodePIDs(num int) []int {
	re := regexp.MustCompile(`local node started" node=` + strconv.Itoa(num) + ` pid=(\d+)`)
	var pids []int
	for _, m := range re.FindAllStringSubmatch(c.log.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

// inNamespaceOf keeps the pids that are in the PID namespace of ref (a
// node's bpslave): a remote process, not its ghost.
func inNamespaceOf(ref int, pids []int) []int {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", ref))
	if err != nil {
		return nil
	}
	var out []int
	for _, p := range pids {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p)); err == nil && l == ns {
			out = append(out, p)
		}
	}
	return out
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	s := procState(pid)
	return s != "" && s != "Z" && s != "X"
}

// onView: pid waits on a FUSE request (the view's), uninterruptibly.
func onView(pid int) bool {
	return wchan(pid) == "request_wait_answer" || procState(pid) == "D"
}

// wchan is where in the kernel pid waits.
func wchan(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	return string(b)
}

// waitWithin is waitFor with a time limit of one's own.
func waitWithin(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeState is node n's state in the master's table, "" if not known.
func nodeState(c *cluster, n int) string {
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		return ""
	}
	defer cl.Close()
	nodes, _ := cl.Nodes()
	for _, nd := range nodes {
		if nd.Num == n {
			return nd.State
		}
	}
	return ""
}

// stateLog is every state each node went through while the test ran, as
// the master's table showed it every 20 ms.
type stateLog struct {
	mu   sync.Mutex
	seqs map[int][]string
}

func recordStates(t *testing.T, c *cluster) *stateLog {
	s := &stateLog{seqs: map[int][]string{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if cl, err := apiclient.Dial(c.socket); err == nil {
				nodes, _ := cl.Nodes()
				cl.Close()
				s.mu.Lock()
				for _, nd := range nodes {
					if seq := s.seqs[nd.Num]; len(seq) == 0 || seq[len(seq)-1] != nd.State {
						s.seqs[nd.Num] = append(seq, nd.State)
					}
				}
				s.mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	// Registered after startCluster's: it stops before the master does.
	t.Cleanup(func() { close(stop); <-done })
	return s
}

func (s *stateLog) seq(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seqs[n])
}

func (s *stateLog) last(n int) string {
	seq := s.seq(n)
	if len(seq) == 0 {
		return ""
	}
	return seq[len(seq)-1]
}

// checkCleanNode: node n runs processes again, and has none but its
// bpslave (PID 1) and its view of the master's files: nothing of before.
func checkCleanNode(t *testing.T, c *cluster, n int) {
	t.Helper()
	node := strconv.Itoa(n)
	r := c.run("", "bpsh", node, "ps", "-e", "-o", "pid=,args=")
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.Contains(l, "nodeview") {
			procs = append(procs, strings.TrimSpace(l))
		}
	}
	if r.code != 0 || len(procs) != 2 || !strings.HasPrefix(procs[0], "1 ") || !strings.Contains(procs[1], "ps -e") {
		t.Errorf("processes on node %s: %q (stderr %q, exit %d), want its bpslave and ps", node, r.stdout, r.stderr, r.code)
	}
	out := c.run("", "bpstat", "-p").stdout
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == node {
			t.Errorf("bpstat -p lists a process on node %s: %q", node, l)
		}
	}
}

// remotePgrep is pgrep of the processes on namespace nodes: those in
// another PID namespace than the test's. The master's ghosts show the
// same argv (the process space mirrors each exec).
func remotePgrep(argv ...string) []int {
	self, _ := os.Readlink("/proc/self/ns/pid")
	var out []int
	for _, pid := range pgrep(argv...) {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && ns != self {
			out = append(out, pid)
		}
	}
	return out
}
