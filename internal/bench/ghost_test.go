package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// idleGhosts is how many remote processes BenchmarkGhostMemory keeps
// alive: enough that the pages all ghosts share (the stub's code, from one
// memfd) are spread thin, as on a busy master.
const idleGhosts = 1000

// BenchmarkGhostMemory runs 1,000 `sleep 600` on node 0 through the Go
// API, so that their ghosts are children of this process and nothing
// else is (bpsh would add a Go process per command), and measures what
// each ghost costs once idle: PSS (smaps_rollup) and page tables (VmPTE),
// the files ghost's BenchmarkGhostPSS reads, each address space counted
// once (the job's ghosts share one: see ghost.Group) and shared out among
// its ghosts. Unlike that one's, these ghosts are real: started with a
// master's tokens, their stdio handed over, their processes running on a
// node.
//
// The goal: at most 64 kB per ghost, held to PSS and to PSS plus page
// tables. Not counted by either: the kernel's own cost of a process
// (task_struct, a 16 kB kernel stack), which every design with a process
// per remote process pays.
func BenchmarkGhostMemory(b *testing.B) {
	c := cluster(b)
	cl, err := apiclient.Dial(c.Socket)
	if err != nil {
		b.Fatal(err)
	}
	job, err := cl.Run(localapi.Run{Nodes: make([]int, idleGhosts), Command: wire.Command{Path: "/bin/sleep", Argv: []string{"sleep", "600"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoIO: true}})
	if err != nil {
		cl.Close()
		b.Fatal(err)
	}
	defer job.Close()
	// The master writes an event per rank on the job's connection; if
	// no one reads them its writes would block.
	go func() {
		for range job.Events {
		}
	}()

	pids := make([]int, 0, idleGhosts)
	reaped := false
	defer func() {
		if !reaped { // a failure half way: leave no ghost (and so no sleep) behind
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			reap(pids, 30*time.Second)
		}
	}()
	start := time.Now()
	for i := range job.Ranks {
		pid, err := job.StartGhost(i, [3]*os.File{})
		if err != nil {
			b.Fatalf("start ghost %d of %d: %v", i, idleGhosts, err)
		}
		pids = append(pids, pid)
	}
	if err := waitRunning(c.Socket, pids, 60*time.Second); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-to-start-all")

	// One relayed signal each (SIGCONT: sleep ignores it), so that every
	// ghost has run its whole relay path once and is in its steady state,
	// as BenchmarkGhostPSS does.
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	time.Sleep(200 * time.Millisecond)

	ms, err := ghostMemories(pids)
	if err != nil {
		b.Fatal(err)
	}
	var pss, pte, total []float64
	for _, m := range ms {
		pss, pte, total = append(pss, m.pss), append(pte, m.pte), append(total, m.pss+m.pte)
	}
	row := report.Add(fmt.Sprintf("ghost PSS, %d idle ghosts", idleGhosts), "kB", pss, AtMost(64, "kB"))
	b.ReportMetric(row.Summary.Mean, "kB-PSS-mean/ghost")
	report.Add("ghost page tables (VmPTE)", "kB", pte, Goal{})
	// Page tables are the larger part, and PSS leaves them out: held to
	// the same goal, the sum says what a ghost costs in memory that
	// scales with the ghost count.
	row = report.Add("ghost PSS + page tables", "kB", total, AtMost(64, "kB"))
	b.ReportMetric(row.Summary.Mean, "kB-PSS+PTE-mean/ghost")

	// SIGTERM to a ghost is relayed to its sleep, which dies of it; the
	// ghost then dies of the same signal, which is what a wait() must see.
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	statuses, err := reap(pids, 60*time.Second)
	reaped = err == nil
	if err != nil {
		b.Fatal(err)
	}
	for pid, ws := range statuses {
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			b.Errorf("ghost %d: wait status %#x, want killed by SIGTERM", pid, uint32(ws))
		}
	}
}

// waitRunning waits until the master reports every one of pids started on
// its node (it knows the node's PID only once the process runs there).
func waitRunning(socket string, pids []int, timeout time.Duration) error {
	want := make(map[int]bool, len(pids))
	for _, pid := range pids {
		want[pid] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		running, err := countRunning(socket, want)
		if err == nil && running == len(pids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d remote processes running after %v (last error: %v)", running, len(pids), timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countRunning(socket string, want map[int]bool) (int, error) {
	cl, err := apiclient.Dial(socket)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	procs, err := cl.Procs()
	n := 0
	for _, p := range procs {
		if want[p.PID] && p.NodePID != 0 {
			n++
		}
	}
	return n, err
}

// memory is one ghost's cost, in kB.
// memory is an address space's cost in kB: PSS and page tables, and
// its anonymous (private) part of its resident set, which, unlike PSS,
// does not move as other processes map the same file (bpmaster's
// binary is bpslave's).
type memory struct{ pss, pte, anon float64 }

// ghostMemories returns what each of pids costs: the PSS and page tables
// of its address space, shared out evenly among the ghosts in it (a
// job's ghosts share one, and /proc shows each of them the whole of it).
func ghostMemories(pids []int) ([]memory, error) {
	order := make([]int, len(pids)) // indexes of pids, by address space
	for i := range order {
		order[i] = i
	}
	var err error
	slices.SortFunc(order, func(a, b int) int {
		c, e := ghost.CompareMemory(pids[a], pids[b])
		if e != nil && err == nil {
			err = e
		}
		return c
	})
	if err != nil {
		return nil, fmt.Errorf("sort ghosts by address space: %w", err)
	}
	out := make([]memory, len(pids))
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) {
			if c, err := ghost.CompareMemory(pids[order[lo]], pids[order[hi]]); err != nil {
				return nil, err
			} else if c != 0 {
				break
			}
			hi++
		}
		m, err := processMemory(pids[order[lo]])
		if err != nil {
			return nil, fmt.Errorf("ghost %d: %w", pids[order[lo]], err)
		}
		n := float64(hi - lo)
		for _, i := range order[lo:hi] {
			out[i] = memory{pss: m.pss / n, pte: m.pte / n, anon: m.anon / n}
		}
		lo = hi
	}
	return out, nil
}

// reap waits for each of pids (children of this process) and returns how
// each ended. Past the timeout it SIGKILLs and reaps those left, and says
// so: a ghost that does not die with its remote process is a bug.
//
// It polls each PID with WNOHANG: a blocking wait4 per ghost would hold an
// OS thread each, and wait4(-1) would steal the exit statuses of the
// master and sshd, which their exec.Cmds are waiting for.
func reap(pids []int, timeout time.Duration) (map[int]unix.WaitStatus, error) {
	out := make(map[int]unix.WaitStatus, len(pids))
	var errs []error
	deadline := time.Now().Add(timeout)
	killed := false
	for {
		for _, pid := range pids {
			if _, ok := out[pid]; ok {
				continue
			}
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			switch {
			case errors.Is(err, unix.EINTR):
			case err != nil:
				errs = append(errs, fmt.Errorf("wait for ghost %d: %w", pid, err))
				out[pid] = 0
			case got == pid:
				out[pid] = ws
			}
		}
		if len(out) == len(pids) {
			break
		}
		if !killed && time.Now().After(deadline) {
			killed = true
			errs = append(errs, fmt.Errorf("%d of %d ghosts alive %v after they were signalled; killed", len(pids)-len(out), len(pids), timeout))
			for _, pid := range pids {
				if _, ok := out[pid]; !ok {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("reap ghosts: %w", errors.Join(errs...))
	}
	return out, nil
}
