package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLaunchRatios is the two launch rows of BenchmarkRatios alone
// (bpsh -a true on N warm nodes, and bpsh --per-node K -a true), on their
// own master: what a change to the launch path is measured with, without
// the table's 300-run start-up rows.
func BenchmarkLaunchRatios(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	openFiles(b, 1<<16)
	floor, err := spawnFloorProg(b)
	if err != nil {
		b.Fatal(err)
	}
	c := bigCluster(b, bin, *ratioNodes, "--diskless")
	if _, err := runWithin(c.Env(), 5*time.Minute, c.Applet("bpsh"), "-a", "true"); err != nil {
		b.Fatalf("first bpsh -a true: %v%s", err, masterErrors(c))
	}
	launchRows(b, c, floor)
	launchCPURow(b, c, floor)
	report.Note("launch ratios: %d local nodes (diskless), bpsh --per-node %d; medians of %d runs on all nodes, %d of the launch",
		*ratioNodes, *ratioPerNode, *ratioRuns, max(3, *ratioRuns/3))
}

// launchRows adds the launch rows of c's nodes, each beside its floor
// (spawnfloor running as many /bin/true, one per node at once), and
// returns the warm runs of bpsh -a true.
func launchRows(b *testing.B, c *Cluster, floor string) []float64 {
	b.Helper()
	n, k := *ratioNodes, *ratioPerNode
	nodes := fmt.Sprintf("%d nodes", n)
	all := pair(b, *ratioRuns,
		cmd(b, c.Env(), c.Applet("bpsh"), "-a", "true"),
		cmd(b, os.Environ(), floor, strconv.Itoa(n), strconv.Itoa(n), "/bin/true"))
	report.AddRatio("bpsh -a true, "+nodes+", warm", "ms", all[0], fmt.Sprintf("%d local /bin/true, %d at once", n, n), all[1], AtMost(2, "x"))

	procs := n * k
	launch := pair(b, max(3, *ratioRuns/3),
		cmd(b, c.Env(), c.Applet("bpsh"), "--per-node", strconv.Itoa(k), "-a", "true"),
		cmd(b, os.Environ(), floor, strconv.Itoa(procs), strconv.Itoa(n), "/bin/true"))
	report.AddRatio(fmt.Sprintf("bpsh --per-node %d -a true, %s processes on %s", k, thousands(procs), nodes), "ms", launch[0],
		fmt.Sprintf("%s local /bin/true, %d at once", thousands(procs), n), launch[1], AtMost(1.5, "x"))
	return all[0]
}

// launchCPURow adds the CPU time of bpsh --per-node K -a true, every
// process of the machine that takes part counted, beside spawnfloor's
// for as many /bin/true: a ratio that a loaded machine does not skew as
// it skews wall times (under load, bproc's hundred runnable processes
// get more of the cores than spawnfloor's one). No goal: it shows what
// the launch costs beyond the processes themselves.
func launchCPURow(b *testing.B, c *Cluster, floor string) {
	b.Helper()
	n, k := *ratioNodes, *ratioPerNode
	procs := n * k
	var bp, fl []float64
	for range max(3, *ratioRuns/3) {
		d, err := launchCPU(c, c.Applet("bpsh"), "--per-node", strconv.Itoa(k), "-a", "true")
		if err != nil {
			b.Fatal(err)
		}
		bp = append(bp, float64(d)/float64(time.Millisecond))
		d, err = cpuOf(os.Environ(), floor, strconv.Itoa(procs), strconv.Itoa(n), "/bin/true")
		if err != nil {
			b.Fatal(err)
		}
		fl = append(fl, float64(d)/float64(time.Millisecond))
	}
	report.AddRatio(fmt.Sprintf("CPU of bpsh --per-node %d -a true, %s processes on %d nodes (all processes)", k, thousands(procs), n), "ms", bp,
		fmt.Sprintf("CPU of %s local /bin/true, %d at once", thousands(procs), n), fl, Goal{})
}
