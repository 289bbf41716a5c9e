package bench

import (
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// spaceForks is the fork-heavy loop of issue 15's goal.
const spaceForks = `for i in $(seq 2000); do /bin/true; done`

// spaceGhosts is how many descendant ghosts BenchmarkSpaceMemory holds,
// and how many ghosts its job has.
const spaceGhosts = 200

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

// BenchmarkSpaceMemory weighs a descendant ghost against a job's, with
// 200 of each on one node, measured alike: PSS (smaps_rollup) plus page
// tables (VmPTE) of the ghosts, each address space counted once and
// shared out among the ghosts in it.
//
//   - forked: 200 subshells of a remote sh that do not exec (each blocks
//     in the read builtin), whose ghosts share their parent ghost's
//     memory as a job's share their template's;
//   - exec'd: 200 `sleep 600` of a remote sh, whose ghosts re-exec'd
//     with the new argv, each in an address space of its own (a
//     /proc/PID/cmdline is one address space's);
//   - job: 200 ranks of `sleep 600` started through the Go API.
//
// The goal is the issue's: a descendant's ghost as a job's, about 1 kB.
// An exec'd one cannot: its address space of its own costs at least a
// PUD, a PMD and a PTE page (12 kB, VmPTE) for the one 2 MB region that
// holds its code and a private page (4 kB) for its argv and stack, which
// is its row's goal (the stub's settle lays it out so).
// What the master holds per descendant is BenchmarkSpaceMaster's. Not
// counted: the kernel's own cost of a task (task_struct, its 16 kB
// kernel stack, signal and file tables: about 27 kB by /proc/slabinfo's
// object sizes), the same for every ghost, and the same again on the node
// for its process; an address space of its own adds its mm_struct, top
// page table and VMAs (8-12 kB) to an exec'd descendant's.
func BenchmarkSpaceMemory(b *testing.B) {
	c := cluster(b)
	forked := spaceDescendants(b, c, forkedScript(spaceGhosts))
	exec := spaceDescendants(b, c, fmt.Sprintf(`for i in $(seq %d); do sleep 600 & done; echo ready; wait`, spaceGhosts))
	job, j, err := startGhosts(c, spaceGhosts, "/bin/sleep", "600")
	if j != nil {
		defer j.Close()
	}
	defer func() {
		for _, g := range job {
			syscall.Kill(g, syscall.SIGKILL)
		}
		reap(job, 30*time.Second)
	}()
	if err != nil {
		b.Fatal(err)
	}
	if err := waitRunning(c.Socket, job, 60*time.Second); err != nil {
		b.Fatal(err)
	}
	for _, g := range slices.Concat(forked, exec, job) { // each past its relay path once
		syscall.Kill(g, syscall.SIGCONT)
	}
	time.Sleep(200 * time.Millisecond)
	for _, k := range []struct {
		name  string
		pids  []int
		goal  Goal
		extra string
	}{
		{"descendant ghost, forked (no exec)", forked, AtMost(2, "kB"), "kB-forked"},
		{"descendant ghost, exec'd", exec, AtMost(16, "kB"), "kB-execd"}, // the floor (below)
		{"job ghost", job, Goal{}, "kB-job"},
	} {
		ms, err := ghostMemories(k.pids)
		if err != nil {
			b.Fatal(err)
		}
		var total []float64
		for _, m := range ms {
			total = append(total, m.pss+m.pte)
		}
		row := report.Add(fmt.Sprintf("%s: PSS + page tables, %d of them", k.name, spaceGhosts), "kB", total, k.goal)
		b.ReportMetric(row.Summary.Mean, k.extra)
	}
	report.Note("space memory: a forked descendant's ghost shares its parent ghost's memory; an exec'd one re-execs with the new argv, and a process's argv is its address space's, so it holds one of its own, at its floor: a page for argv and stack next to its code, 12 kB of page tables for that one 2 MB region")
}

// spaceDescendants runs script in a remote sh (which says ready once it
// has forked) and returns the ghosts of its descendants once there are
// spaceGhosts of them; cleanup kills them (and with them the remote
// processes) and bpsh.
func spaceDescendants(b *testing.B, c *Cluster, script string) []int {
	b.Helper()
	s, err := startForkedShell(c, script, spaceGhosts)
	if s != nil {
		b.Cleanup(s.kill)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s.ghosts
}
