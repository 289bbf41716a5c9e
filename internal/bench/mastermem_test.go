package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// The load of BenchmarkMasterMemory: enough live processes for a slope
// that the master's own noise (its GC's timing) does not hide, on few
// enough nodes for a shared two-core machine.
const (
	memNodes = 16
	memProcs = 2000
)

// BenchmarkMasterMemory weighs bpmaster alone (PSS + page tables) with
// 0, 1,000 and 2,000 live `sleep` on 16 nodes, and reports what one more
// live remote process costs it: the part of BenchmarkGhostsAtScale's
// figure that is the master's, at a size that takes seconds. Two kinds of
// load: without stdio (NoIO, as BenchmarkGhostsAtScale), and with the
// ghosts' stdin, stdout and stderr handed to the master (as bpsh's are),
// stdin a pipe that stays open and says nothing, stdout and stderr one
// pipe this benchmark drains.
//
// With BPROC_PROFILE_DIR set and a bpmaster built with -tags
// bprocprofile, the master also writes a heap profile and its goroutine
// count there at each step (SIGUSR2; see master/profile_debug.go).
func BenchmarkMasterMemory(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	roomForProcs(b, 2*memProcs)
	openFiles(b, 1<<20)
	c := bigCluster(b, bin, memNodes)
	for _, stdio := range []bool{false, true} {
		name := "NoIO"
		if stdio {
			name = "stdio"
		}
		b.Run(name, func(b *testing.B) { masterMemory(b, c, name, stdio) })
	}
}

func masterMemory(b *testing.B, c *Cluster, name string, stdio bool) {
	masterPID := c.master.Process.Pid
	time.Sleep(2 * time.Second) // what the last run left is collected
	before := settledMemory(b, c, masterPID, name+"-0")
	var files [3]*os.File
	run := localapi.Run{Command: wire.Command{Path: "/bin/sleep", Argv: []string{"sleep", "600"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoIO: !stdio}}
	if stdio {
		inR, inW, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		defer inW.Close()
		defer inR.Close()
		outR, outW, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		defer outW.Close()
		go func() { // until every ghost has closed it, and then this side
			buf := make([]byte, 4096)
			for {
				if _, err := outR.Read(buf); err != nil {
					outR.Close()
					return
				}
			}
		}()
		files = [3]*os.File{inR, outW, outW}
	}
	var pids []int
	var jobs []*apiclient.Job
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		reap(pids, time.Minute)
		for _, j := range jobs {
			j.Close()
		}
	}()
	var levels []memory
	began := time.Now()
	for step := 1; step <= 2; step++ {
		cl, err := apiclient.Dial(c.Socket)
		if err != nil {
			b.Fatal(err)
		}
		run.Nodes = make([]int, memProcs/2)
		for i := range run.Nodes {
			run.Nodes[i] = i % c.Nodes
		}
		job, err := cl.Run(run)
		if err != nil {
			cl.Close()
			b.Fatal(err)
		}
		jobs = append(jobs, job)
		go func() {
			for range job.Events {
			}
		}()
		for i := range job.Ranks {
			pid, err := job.StartGhost(i, files)
			if err != nil {
				b.Fatalf("start ghost %d: %v", i, err)
			}
			pids = append(pids, pid)
		}
		if err := waitRunning(c.Socket, pids, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		for _, pid := range pids { // every relay has passed one signal (sleep ignores SIGCONT)
			syscall.Kill(pid, syscall.SIGCONT)
		}
		levels = append(levels, settledMemory(b, c, masterPID, fmt.Sprintf("%s-%d", name, len(pids))))
	}
	took := time.Since(began)
	total := func(m memory) float64 { return m.pss + m.pte }
	slope := (total(levels[1]) - total(before)) / float64(len(pids))
	report.Add(fmt.Sprintf("bpmaster, %d nodes, %s: PSS + page tables, idle", c.Nodes, name), "MB", []float64{mb(total(before))}, Goal{})
	for i, m := range levels {
		report.Add(fmt.Sprintf("bpmaster, %d nodes, %s: PSS + page tables, %s live", c.Nodes, name, thousands((i+1)*memProcs/2)), "MB", []float64{mb(total(m))}, Goal{})
	}
	row := report.Add(fmt.Sprintf("bpmaster per live remote process, %s (0 to %s)", name, thousands(len(pids))), "kB", []float64{slope}, AtMost(10, "kB"))
	b.ReportMetric(row.Summary.Median, "kB/proc")
	// The second thousand alone: what one more costs once the first
	// have paid for what all share, and with the memory an earlier run
	// left to the master's heap used up (the stdio run's idle figure
	// holds the NoIO run's).
	marginal := (total(levels[1]) - total(levels[0])) / float64(memProcs/2)
	report.Add(fmt.Sprintf("bpmaster per live remote process, %s (%s to %s)", name, thousands(memProcs/2), thousands(memProcs)), "kB", []float64{marginal}, Goal{})
	b.ReportMetric(marginal, "kB/proc-marginal")
	b.ReportMetric(took.Seconds(), "s-to-start")

	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	statuses, err := reap(pids, time.Minute)
	pids = nil
	if err != nil {
		b.Fatal(err)
	}
	for pid, ws := range statuses {
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			b.Errorf("ghost %d: wait status %#x, want killed by SIGTERM", pid, uint32(ws))
		}
	}
}

// settledMemory is the master's PSS and page tables once it has had a
// second to settle, and its profile, if it writes one.
func settledMemory(b *testing.B, c *Cluster, pid int, step string) memory {
	b.Helper()
	time.Sleep(time.Second)
	m, err := processMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: bpmaster PSS %.0f kB (anonymous %.0f kB), VmPTE %.0f kB", step, m.pss, m.anon, m.pte)
	if dir := os.Getenv("BPROC_PROFILE_DIR"); dir != "" {
		logProfile(b, c, dir, step)
	}
	return m
}

// logProfile asks the master for its profile (SIGUSR2) and logs its
// goroutine count and heap, renaming the files after step.
func logProfile(b *testing.B, c *Cluster, dir, step string) {
	b.Helper()
	before, _ := filepath.Glob(filepath.Join(dir, "done-*"))
	n := len(before)
	c.master.Process.Signal(syscall.SIGUSR2)
	done := filepath.Join(dir, "done-"+strconv.Itoa(n))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Logf("%s: no profile from the master (built without -tags bprocprofile?)", step)
			return
		}
	}
	for _, f := range []string{"heap.pprof", "goroutine.txt", "mem.txt"} {
		os.Rename(filepath.Join(dir, fmt.Sprintf("%s-%d", f, n)), filepath.Join(dir, step+"-"+f))
	}
	mem, _ := os.ReadFile(filepath.Join(dir, step+"-mem.txt"))
	b.Logf("%s: %s", step, strings.ReplaceAll(strings.TrimSpace(string(mem)), "\n", ", "))
}
