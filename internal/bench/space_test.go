package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// spaceForks is the fork-heavy loop of issue 15's goal.
const spaceForks = `for i in $(seq 2000); do /bin/true; done`

// spaceGhosts is how many descendant ghosts BenchmarkSpaceMemory holds.
const spaceGhosts = 500

// BenchmarkSpaceForks times `bpsh 0 sh -c 'for i in $(seq 2000); do
// /bin/true; done'` on a node whose forks get ghosts (the process space,
// on by default) beside the same on a node with it off (BPROC_SPACE=0 in
// bpmaster's environment, which its namespace nodes inherit), in turn in
// one run. The goal: at most 1.5 times as long.
func BenchmarkSpaceForks(b *testing.B) {
	on := cluster(b)
	off := spaceOffCluster(b)
	var timers []*Timer
	for _, c := range []*Cluster{on, off} {
		t, err := NewTimer(c.Env(), c.Applet("bpsh"), "0", "/bin/sh", "-c", spaceForks)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		timers = append(timers, t)
	}
	took, err := InTurn(timers, 1, spaceRuns())
	if err != nil {
		b.Fatal(err)
	}
	onS, offS := seconds(took[0]), seconds(took[1])
	report.Add("2,000 forks+execs on a node, space off", "s", offS, Goal{})
	report.Add("2,000 forks+execs on a node, space on", "s", onS, Goal{})
	ratios := make([]float64, len(onS))
	for i := range onS {
		ratios[i] = onS[i] / offS[i]
	}
	row := report.Add("2,000 forks+execs, space on / off (same round)", "x", ratios, AtMost(1.5, "x"))
	b.ReportMetric(row.Summary.Median, "on/off")
}

// spaceRuns is how many rounds BenchmarkSpaceForks times: each is some
// seconds on a shared machine.
func spaceRuns() int { return 5 }

// spaceOffCluster starts a master whose nodes run with the process space
// off, stopped after the run.
func spaceOffCluster(b *testing.B) *Cluster {
	b.Helper()
	// The master hands BPROC_SPACE on to its namespace nodes; StartCluster
	// starts it with this process's environment.
	old, had := os.LookupEnv("BPROC_SPACE")
	os.Setenv("BPROC_SPACE", "0")
	c, err := StartCluster(binary(b), 1)
	if had {
		os.Setenv("BPROC_SPACE", old)
	} else {
		os.Unsetenv("BPROC_SPACE")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := c.Stop(); err != nil {
			b.Error(err)
		}
	})
	return c
}

// BenchmarkSpaceMemory holds 500 `sleep 600` that a remote shell forked
// (descendant ghosts, each forked by its parent's ghost) and measures
// what each costs: PSS plus page tables of its ghost, and the master's
// RSS growth per ghost (its table entry, channel and relay). The goal is
// a job's ghost's: about 1 kB of the master's, and the ghost's own as
// BenchmarkGhostMemory holds it (64 kB).
func BenchmarkSpaceMemory(b *testing.B) {
	c := cluster(b)
	before, err := rssKB(c.master.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(c.Applet("bpsh"), "0", "/bin/sh", "-c",
		fmt.Sprintf(`for i in $(seq %d); do sleep 600 & done; echo ready; wait`, spaceGhosts))
	cmd.Env = c.Env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var ghosts []int
	defer func() {
		for _, g := range ghosts {
			syscall.Kill(g, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if l, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(l) != "ready" {
		b.Fatalf("the remote shell said %q", l)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ghosts, err = spaceSleeps(c.Socket, cmd.Process.Pid)
		if err == nil && len(ghosts) == spaceGhosts {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d descendant ghosts after 60 s (%v)", len(ghosts), spaceGhosts, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	after, err := rssKB(c.master.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	ms, err := ghostMemories(ghosts)
	if err != nil {
		b.Fatal(err)
	}
	var total []float64
	for _, m := range ms {
		total = append(total, m.pss+m.pte)
	}
	row := report.Add(fmt.Sprintf("descendant ghost PSS + page tables, %d ghosts", spaceGhosts), "kB", total, AtMost(64, "kB"))
	b.ReportMetric(row.Summary.Mean, "kB-ghost/descendant")
	perGhost := float64(after-before) / float64(spaceGhosts)
	report.Add("master RSS growth per descendant ghost", "kB", []float64{perGhost}, Goal{})
	b.ReportMetric(perGhost, "kB-master/descendant")
}

// spaceSleeps returns the ghosts of the node's processes other than the
// one bpsh (pid bpsh) started.
func spaceSleeps(socket string, bpsh int) ([]int, error) {
	cl, err := apiclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	procs, err := cl.Procs()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range procs {
		if ppidOf(p.PID) != bpsh {
			out = append(out, p.PID)
		}
	}
	return out, nil
}

func ppidOf(pid int) int {
	v, err := readProcField(fmt.Sprintf("/proc/%d/status", pid), "PPid:")
	if err != nil {
		return 0
	}
	return int(v)
}

// rssKB is a process's resident set, in kB.
func rssKB(pid int) (int, error) {
	v, err := readProcField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return int(v), err
}
