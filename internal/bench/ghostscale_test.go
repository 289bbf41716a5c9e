package bench

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGhostsAtScale keeps 15,000 remote processes alive (`sleep 600`,
// 120 on each of 125 local nodes, started through the Go API without
// stdio, so that no bpsh stands beside them) and weighs what the master
// side holds for them: bpmaster's PSS and page tables, and every ghost's.
// The goal is BProc's: 15,000 ghosts in at most 256 MB of master memory.
//
// BProc's figure was kernel memory, its ghosts being kernel threads; here
// each ghost is a process, whose task_struct and kernel stack the kernel
// keeps outside PSS. The kernel's growth is shown beside it, for the
// ghosts and their remote processes together: on real nodes half of those
// tasks would be elsewhere.
func BenchmarkGhostsAtScale(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	roomForProcs(b, scaleProcs)
	openFiles(b, 1<<20)
	c := bigCluster(b, bin, scaleNodes)
	masterPID := c.master.Process.Pid

	idle, err := processMemory(masterPID)
	if err != nil {
		b.Fatal(err)
	}
	kernelBefore := kernelMemory()
	began := time.Now()
	pids, job, err := startGhosts(c, scaleProcs, "/bin/sleep", "600")
	if job != nil {
		defer job.Close()
	}
	reaped := false
	defer func() {
		if !reaped { // a failure half way: leave no ghost (and so no sleep) behind
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			reap(pids, time.Minute)
		}
	}()
	if err != nil {
		b.Fatal(err)
	}
	if err := waitRunning(c.Socket, pids, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	report.Add(fmt.Sprintf("%s sleep started through the Go API, all running", thousands(scaleProcs)), "s",
		[]float64{time.Since(began).Seconds()}, Goal{})

	// One relayed signal each (sleep ignores SIGCONT), so that every
	// ghost is in its steady state, as BenchmarkGhostMemory does.
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	time.Sleep(time.Second)

	master, err := processMemory(masterPID)
	if err != nil {
		b.Fatal(err)
	}
	ms, err := ghostMemories(pids)
	if err != nil {
		b.Fatal(err)
	}
	var ghosts memory
	for _, m := range ms {
		ghosts.pss += m.pss
		ghosts.pte += m.pte
	}
	kernelGrowth := kernelMemory() - kernelBefore

	report.Add(fmt.Sprintf("bpmaster, %d nodes, no processes: PSS + page tables", scaleNodes), "MB",
		[]float64{mb(idle.pss + idle.pte)}, Goal{})
	report.Add(fmt.Sprintf("bpmaster with %s live ghosts: PSS + page tables", thousands(scaleProcs)), "MB",
		[]float64{mb(master.pss + master.pte)}, Goal{})
	report.Add(fmt.Sprintf("%s ghosts: PSS + page tables, summed", thousands(scaleProcs)), "MB",
		[]float64{mb(ghosts.pss + ghosts.pte)}, Goal{})
	row := report.Add(fmt.Sprintf("master memory, %s live ghosts: bpmaster + ghosts", thousands(scaleProcs)), "MB",
		[]float64{mb(master.pss + master.pte + ghosts.pss + ghosts.pte)}, AtMost(256, "MB"))
	b.ReportMetric(row.Summary.Median, "MB-master+ghosts")
	report.Add(fmt.Sprintf("  kernel growth (slab, stacks), %s ghosts and their %s remote processes", thousands(scaleProcs), thousands(scaleProcs)), "MB",
		[]float64{mb(kernelGrowth)}, Goal{})
	report.Note("ghosts at scale: PSS from smaps_rollup, page tables from VmPTE, once per address space (a job's ghosts share one); kernel growth is meminfo's Slab + KernelStack after less before, both ghosts and remote processes being tasks of this machine")

	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	statuses, err := reap(pids, 2*time.Minute)
	reaped = err == nil
	if err != nil {
		b.Fatal(err)
	}
	bad := 0
	for _, ws := range statuses {
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			bad++
		}
	}
	if bad > 0 {
		b.Errorf("%d of %d ghosts did not die of SIGTERM with their remote process", bad, len(pids))
	}
}

// processMemory is a process's PSS, page tables and anonymous memory, in kB.
func processMemory(pid int) (memory, error) {
	var m memory
	var err error
	if m.pss, err = readProcField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:"); err != nil {
		return m, err
	}
	if m.pte, err = readProcField(fmt.Sprintf("/proc/%d/status", pid), "VmPTE:"); err != nil {
		return m, err
	}
	if m.anon, err = readProcField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Anonymous:"); err != nil {
		return m, err
	}
	return m, nil
}

// kernelMemory is the kernel's slab and stacks, in kB: where a task's
// task_struct, kernel stack, and the like live.
func kernelMemory() float64 {
	return procField("/proc/meminfo", "Slab:") + procField("/proc/meminfo", "KernelStack:")
}
