package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	ratioNodes   = flag.Int("ratio-nodes", 16, "local nodes of the ratio rows (the issue's table has 64, too heavy for 2 shared cores)")
	ratioPerNode = flag.Int("ratio-per-node", 8, "bpsh --per-node of the ratio rows' launch (the issue's table has 32)")
	ratioRuns    = flag.Int("ratio-runs", 15, "timed runs of each command on all nodes in the ratio rows")
)

// BenchmarkRatios is the table: each bproc figure beside its floor
// (what this machine does with no bproc at all) or its peer (ssh at its
// best), measured in the same run, and the ratio, which holds from machine
// to machine where absolute times do not:
//
//   - bpsh 0 true against ssh over a warm ControlMaster to a user whose
//     shell reads no rc file (goal: at most 0.6);
//   - bpsh -a true on N warm nodes against N local /bin/true, N at once
//     (at most 2);
//   - bpsh --per-node K -a true against N*K local /bin/true, N at once
//     (at most 1.5);
//   - the first bpsh -a true after N nodes come up (with the C library
//     and the loader as the config's libraries) against the warm runs
//     (at most 2);
//   - bpsh 0 true on a diskless node against a --no-diskless one (at
//     most 1.1);
//   - and the binary's start-up: bproc --help and bpsh --help against an
//     empty static Go program (no goal: what the packages cost).
//
// Commands compared take turns in a rotating order, so that whatever else
// the machine does falls on both alike.
func BenchmarkRatios(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	n, k := *ratioNodes, *ratioPerNode
	openFiles(b, 1<<16)
	floor, err := spawnFloorProg(b)
	if err != nil {
		b.Fatal(err)
	}
	nodes := fmt.Sprintf("%d nodes", n)

	// Cold first: nothing has run on the nodes yet, which read the
	// config's libraries at boot (the goal's condition).
	c := bigCluster(b, bin, n, "--diskless", "--config", librariesConfig(b))
	cold, err := runWithin(c.Env(), 5*time.Minute, c.Applet("bpsh"), "-a", "true")
	if err != nil {
		b.Fatalf("first bpsh -a true: %v%s", err, masterErrors(c))
	}

	warm := launchRows(b, c, floor)
	report.AddRatio(fmt.Sprintf("first bpsh -a true after %s come up (cold)", nodes), "ms", Millis([]time.Duration{cold}),
		"the warm runs", warm, AtMost(2, "x"))

	// One node each way, and ssh, in turn with the machine's /bin/true.
	plain := cluster(b) // --no-diskless, 1 node
	timers := []*Timer{
		cmd(b, os.Environ(), "/bin/true"),
		cmd(b, c.Env(), c.Applet("bpsh"), "0", "true"),
		cmd(b, plain.Env(), plain.Applet("bpsh"), "0", "true"),
	}
	peer, sshErr := sshPeer(b)
	if sshErr == nil {
		timers = append(timers, cmd(b, os.Environ(), peer.Command("true")...))
	} else {
		report.Note("ratios: no ssh row: %v", sshErr)
	}
	one, err := InTurn(timers, warmup, *runs)
	if err != nil {
		b.Fatal(err)
	}
	report.Add("/bin/true, local (the machine's floor)", "ms", Millis(one[0]), Goal{})
	if sshErr == nil {
		report.AddRatio("bpsh 0 true", "ms", Millis(one[1]), "ssh 127.0.0.1 true, warm ControlMaster, no rc files", Millis(one[3]), AtMost(0.6, "x"))
	}
	report.AddRatio("bpsh 0 true, diskless", "ms", Millis(one[1]), "bpsh 0 true, --no-diskless", Millis(one[2]), AtMost(1.1, "x"))

	// The binary's start-up, before any applet does its work.
	empty := emptyGoProg(b)
	start, err := InTurn([]*Timer{
		cmd(b, os.Environ(), empty),
		cmd(b, os.Environ(), bin, "--help"),
		cmd(b, os.Environ(), c.Applet("bpsh"), "--help"),
	}, warmup, *runs)
	if err != nil {
		b.Fatal(err)
	}
	report.AddRatio("bproc --help (start-up, no applet)", "ms", Millis(start[1]), "an empty static Go program", Millis(start[0]), Goal{})
	report.AddRatio("bpsh --help", "ms", Millis(start[2]), "an empty static Go program", Millis(start[0]), Goal{})
	report.Note("ratios: %d local nodes (%s), bpsh --per-node %d; medians of %d runs (%d on all nodes, %d of the launch), one run of make bench",
		n, "diskless unless said", k, *runs, *ratioRuns, max(3, *ratioRuns/3))
}

// cmd is a Timer, closed when the benchmark ends.
func cmd(b *testing.B, env []string, argv ...string) *Timer {
	b.Helper()
	t, err := NewTimer(env, argv...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t.Close() })
	return t
}

// pair runs the timers in turn, runs times after a warm-up round, and
// returns each one's milliseconds.
func pair(b *testing.B, runs int, timers ...*Timer) [][]float64 {
	b.Helper()
	took, err := InTurn(timers, 1, runs)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]float64, len(took))
	for i, t := range took {
		out[i] = Millis(t)
	}
	return out
}

// emptyGoProg builds `func main() {}` as bproc is built (static, stripped):
// the least any Go program costs to start here.
func emptyGoProg(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	for name, text := range map[string]string{
		"go.mod":  "module empty\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	prog := filepath.Join(dir, "empty")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", prog, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build an empty Go program: %v\n%s", err, out)
	}
	return prog
}
