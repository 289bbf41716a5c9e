package bench

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// BProc's record: 15,000 processes on 125 machines in 3.3 s, and 15,000
// ghosts in about 256 MB of master memory.
const (
	scaleNodes   = 125
	scalePerNode = 120
	scaleProcs   = scaleNodes * scalePerNode
)

var launchRuns = flag.Int("launch-runs", 3, "timed runs of each launch in the 15,000-process rows")

// BenchmarkLaunch starts `true` 15,000 times, 120 on each of 125 local
// nodes, and times it until every exit status is back: with bpsh
// --per-node 120 (the row, goal 3.3 s, BProc's record with 125
// real machines), and through the Go API, which the master serves with one
// descriptor per ghost where bpsh's ghosts bring it their stdio as well.
// --per-node 8 (1,000 processes) first gives the rate at a size the
// master's descriptors allow for certain.
func BenchmarkLaunch(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	roomForProcs(b, scaleProcs)
	files := openFiles(b, 1<<20)
	spawnFloor(b)
	c := bigCluster(b, bin, scaleNodes)
	spec := fmt.Sprintf("0-%d", scaleNodes-1)

	bpshRow := func(perNode int, goal Goal) {
		procs := perNode * scaleNodes
		what := fmt.Sprintf("bpsh --per-node %d %s true: %s processes, all statuses back", perNode, spec, thousands(procs))
		var took []float64
		for run := range *launchRuns {
			d, err := runWithin(c.Env(), 5*time.Minute, c.Applet("bpsh"), "--per-node", strconv.Itoa(perNode), spec, "true")
			if err != nil {
				report.Note("%s: run %d of %d failed after %.1f s: %v%s", what, run+1, *launchRuns, d.Seconds(), err, masterErrors(c))
				b.Logf("%s: %v", what, err)
				break
			}
			took = append(took, d.Seconds())
		}
		row := report.Add(what, "s", took, goal)
		b.ReportMetric(row.Summary.Median, "s-bpsh-"+strconv.Itoa(procs))
	}
	bpshRow(8, Goal{})

	// Through the API first: a bpsh run the master cannot hold the
	// descriptors for leaves it deaf (see masterErrors), and the cluster
	// with it.
	what := fmt.Sprintf("Go API Run (NoIO), %s true on %d nodes, all statuses back", thousands(scaleProcs), scaleNodes)
	var took []float64
	for run := range *launchRuns {
		d, err := launchAPI(c, scaleProcs, "/bin/true")
		if err != nil {
			report.Note("%s: run %d failed after %.1f s: %v%s", what, run+1, d.Seconds(), err, masterErrors(c))
			b.Logf("%s: %v", what, err)
			break
		}
		took = append(took, d.Seconds())
	}
	row := report.Add(what, "s", took, Goal{})
	b.ReportMetric(row.Summary.Median, "s-api-15000")

	bpshRow(scalePerNode, AtMost(3.3, "s"))
	report.Note("launch: %d local --no-diskless nodes on this one machine, each remote process a process here too; `true` from the master's /bin; "+
		"bpsh's stdout and stderr to /dev/null, its ghosts forward them (no -N); RLIMIT_NOFILE for the master and bpsh: %d", scaleNodes, files)
}

// spawnFloor adds the row under the others: this machine starting and
// reaping /bin/true 15,000 times with posix_spawn, 64 at a time, and no
// bproc at all. Each remote process of a launch is one such process here
// (local nodes are this machine), and its ghost another, so no launch of
// 15,000 can be faster than this on one machine.
func spawnFloor(b *testing.B) {
	prog, err := spawnFloorProg(b)
	if err != nil {
		report.Note("no floor row: %v", err)
		return
	}
	var took []float64
	for range *launchRuns {
		out, err := exec.Command(prog, strconv.Itoa(scaleProcs), "64", "/bin/true").Output()
		if err != nil {
			b.Fatalf("spawnfloor: %v", err)
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatalf("spawnfloor said %q: %v", out, err)
		}
		took = append(took, sec)
	}
	row := report.Add(fmt.Sprintf("floor: posix_spawn /bin/true %s times here, 64 at once, no bproc", thousands(scaleProcs)), "s", took, Goal{})
	b.ReportMetric(row.Summary.Median, "s-floor-15000")
}

// spawnFloorProg builds testdata/spawnfloor.c, the floor under a launch.
func spawnFloorProg(b *testing.B) (string, error) {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		return "", fmt.Errorf("spawnfloor: no gcc (apt-get install gcc)")
	}
	prog := filepath.Join(b.TempDir(), "spawnfloor")
	if out, err := exec.Command("gcc", "-O2", "-o", prog, "testdata/spawnfloor.c").CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc spawnfloor.c: %w\n%s", err, out)
	}
	return prog, nil
}

// launchAPI runs argv0 on every node of c, procs in all, through the Go
// API as bpsh does (a Run, then a ghost per rank, children of this
// process), without stdio, and times it from the request until every
// ghost is reaped. Any status but 0 is an error.
func launchAPI(c *Cluster, procs int, path string) (time.Duration, error) {
	start := time.Now()
	pids, job, err := startGhosts(c, procs, path)
	if job != nil {
		defer job.Close()
	}
	statuses, rerr := reap(pids, 5*time.Minute)
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	if rerr != nil {
		return took, rerr
	}
	for pid, ws := range statuses {
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return took, fmt.Errorf("ghost %d: wait status %#x, want exit 0", pid, uint32(ws))
		}
	}
	return took, nil
}

// startGhosts asks the master for procs ranks spread evenly over c's
// nodes, each running path with NoIO, and starts their ghosts. On error
// the ghosts started are killed and their PIDs still returned, for the
// caller to reap.
func startGhosts(c *Cluster, procs int, path string, args ...string) ([]int, *apiclient.Job, error) {
	cl, err := apiclient.Dial(c.Socket)
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]int, procs)
	for i := range nodes {
		nodes[i] = i * c.Nodes / procs
	}
	argv := append([]string{path[strings.LastIndexByte(path, '/')+1:]}, args...)
	job, err := cl.Run(localapi.Run{Nodes: nodes, Command: wire.Command{Path: path, Argv: argv,
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoIO: true}})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	// The master writes an event per rank on the job's connection; if
	// no one reads them its writes would block.
	go func() {
		for range job.Events {
		}
	}()
	pids := make([]int, 0, procs)
	for i := range job.Ranks {
		pid, err := job.StartGhost(i, [3]*os.File{})
		if err != nil {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return pids, job, fmt.Errorf("start ghost %d of %d: %w", i, procs, err)
		}
		pids = append(pids, pid)
	}
	return pids, job, nil
}

// masterErrors is the first of the master's ERROR lines, for a note on a
// failed run: what it ran out of.
func masterErrors(c *Cluster) string {
	var first string
	n := 0
	for _, l := range strings.Split(c.log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			if n == 0 {
				first = l
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; the master logged %d errors, the first: %s", n, first)
}

// stopAtEnd runs stop when the benchmark ends, or from teardown if the run
// is interrupted first; once either way.
func stopAtEnd(b *testing.B, what string, stop func() error) {
	once := sync.OnceValue(stop)
	shared.mu.Lock()
	shared.stops = append(shared.stops, once)
	shared.mu.Unlock()
	b.Cleanup(func() {
		if err := once(); err != nil {
			b.Errorf("stop %s: %v", what, err)
		}
	})
}

// roomForProcs raises kernel.pid_max if procs remote processes need it,
// says so, and puts it back when the benchmark ends.
func roomForProcs(b *testing.B, procs int) {
	b.Helper()
	from, to, restore, err := RaisePIDMax(procs)
	if err != nil {
		b.Fatal(err)
	}
	if from != to {
		stopAtEnd(b, "kernel.pid_max", restore)
		report.Note("%s: kernel.pid_max raised from %d to %d for %s remote processes (each a ghost's PID and its own, both of this machine); put back after",
			b.Name(), from, to, thousands(procs))
		b.Logf("kernel.pid_max %d -> %d", from, to)
	}
}

// openFiles asks for want open files for the master and the tools, and
// says in the report what it got if that is less.
func openFiles(b *testing.B, want uint64) uint64 {
	b.Helper()
	got, restore, err := RaiseNoFile(want)
	if restore != nil {
		stopAtEnd(b, "RLIMIT_NOFILE", restore)
	}
	if err != nil {
		report.Note("%s: RLIMIT_NOFILE stays at %d: %v", b.Name(), got, err)
		b.Logf("RLIMIT_NOFILE: %v", err)
	}
	return got
}

// bigCluster starts a master with n local nodes for this benchmark alone,
// and reports how long they took to come up.
func bigCluster(b *testing.B, bin string, n int, extra ...string) *Cluster {
	b.Helper()
	availBefore := procField("/proc/meminfo", "MemAvailable:")
	began := time.Now()
	c, err := StartCluster(bin, n, extra...)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(began)
	stopAtEnd(b, fmt.Sprintf("cluster of %d nodes", n), c.Stop)
	report.Add(fmt.Sprintf("%d local nodes: bpmaster start to all up", n), "s", []float64{took.Seconds()}, Goal{})
	used := (availBefore - procField("/proc/meminfo", "MemAvailable:")) / 1024
	report.Note("%s: %d local nodes up in %.1f s, taking %.0f MB of the machine's MemAvailable", b.Name(), n, took.Seconds(), used)
	return c
}

// thousands writes 15000 as 15,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// mb is kB in MB, for rows read in MB.
func mb(kb float64) float64 { return math.Round(kb/1024*10) / 10 }
