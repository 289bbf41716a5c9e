package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// spaceFloorRuns is how many rounds BenchmarkSpaceFloor times, after a
// warm-up round: each is the loop three times, some seconds.
const spaceFloorRuns = 7

// BenchmarkSpaceFloor measures the floor of issue 15's goal for
// BenchmarkSpaceForks' loop on this machine: how much of the space's
// cost no supervisor can avoid. testdata/spacefloor.c runs the loop in a
// fresh PID namespace (as a namespace node runs it), in turn in one run:
//
//   - alone;
//   - under the space's seccomp filter, every notification answered
//     with CONTINUE at once by a C thread blocked in NOTIF_RECV (with
//     SYNC_WAKE_UP, as bpslave's): the cost of the notifications;
//   - as that, and for each fork the least PID identity needs: a
//     process made outside the namespace (a CLONE_VM child that pauses,
//     made by another process on request over a socket, as a ghost is
//     made by the master's machine), ns_last_pid steered to its PID, and
//     the child held by a pidfd before the tree's next notification is
//     answered; the extra process is killed at the child's exit;
//   - as that, with the extra process made not by the process the
//     supervisor asks (the master's place) but by a process of its own
//     it asks in turn (the forking process's ghost, whose child the new
//     ghost must be): the hops of bproc's design, with none of its SSH,
//     Go or bookkeeping.
//
// The rows are each round's time over the loop alone's in the same
// round, beside BenchmarkSpaceForks' on/off, whose goal is 1.5x: a floor
// over 1.5x would mean no design of this kind meets it here. Beside
// them the same ratios of CPU time (user and system, every process of
// the run): on a loaded machine wall time is mostly the scheduler's, and
// the loop alone, which sleeps in wait4 without the supervisor's
// synchronous hand-offs, has been seen to take longer than under the
// filter.
func BenchmarkSpaceFloor(b *testing.B) {
	needRoot(b)
	prog := spaceFloorProg(b)
	dir := b.TempDir()
	modes := []string{"none", "continue", "ghost", "relay"}
	var timers []*Timer
	for _, mode := range modes {
		timers = append(timers, cmd(b, os.Environ(), prog, "-u", filepath.Join(dir, mode), mode, "/bin/sh", "-c", spaceForks))
	}
	took, err := InTurn(timers, 1, spaceFloorRuns)
	if err != nil {
		b.Fatal(err)
	}
	var cpu [][]float64
	for _, mode := range modes {
		c, err := floorCPU(filepath.Join(dir, mode), 1, spaceFloorRuns)
		if err != nil {
			b.Fatal(err)
		}
		cpu = append(cpu, c)
	}
	alone, notified, steered, relayed := seconds(took[0]), seconds(took[1]), seconds(took[2]), seconds(took[3])
	report.Add("floor: 2,000 forks+execs in a PID namespace, alone", "s", alone, Goal{})
	report.Add("floor: the same under the space's filter, let go at once", "s", notified, Goal{})
	report.Add("floor: the same, a process made outside per fork, PID steered", "s", steered, Goal{})
	report.Add("floor: the same, that process made by a second one asked in turn", "s", relayed, Goal{})
	for _, r := range []struct {
		what, metric string
		s, base      []float64
	}{
		{"floor of space on/off: notification only / alone (same round)", "notify/alone", notified, alone},
		{"floor of space on/off: notification + PID identity / alone (same round)", "pid/alone", steered, alone},
		{"floor of space on/off: notification + PID identity through a parent ghost / alone (same round)", "relay/alone", relayed, alone},
		{"floor, CPU of the run: notification only / alone (same round)", "cpu-notify/alone", cpu[1], cpu[0]},
		{"floor, CPU of the run: notification + PID identity / alone (same round)", "cpu-pid/alone", cpu[2], cpu[0]},
		{"floor, CPU of the run: notification + PID identity through a parent ghost / alone (same round)", "cpu-relay/alone", cpu[3], cpu[0]},
	} {
		ratios := make([]float64, len(r.s))
		for i := range r.s {
			ratios[i] = r.s[i] / r.base[i]
		}
		row := report.Add(r.what, "x", ratios, Goal{})
		b.ReportMetric(row.Summary.Median, r.metric)
	}
	report.Note("space floors: testdata/spacefloor.c, no bproc; the PID identity floor is one request to a process outside the namespace, a CLONE_VM fork there, an ns_last_pid write and a pidfd_open per fork, and relay adds a second process outside asked in turn, which makes the fork as bproc's parent ghost does; CPU is user+system of every process of the run")
}

// floorCPU reads the CPU seconds spacefloor -u wrote, a line a run, and
// returns those after the warmup runs.
func floorCPU(path string, warmup, runs int) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spacefloor's CPU: %w", err)
	}
	var out []float64
	for _, l := range strings.Fields(string(b)) {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("spacefloor's CPU in %s: bad line %q", path, l)
		}
		out = append(out, v)
	}
	if len(out) != warmup+runs {
		return nil, fmt.Errorf("spacefloor's CPU in %s: %d runs, want %d", path, len(out), warmup+runs)
	}
	return out[warmup:], nil
}

// spaceFloorProg builds testdata/spacefloor.c for tb, which skips where
// it cannot be had (not amd64, no gcc).
func spaceFloorProg(tb testing.TB) string {
	tb.Helper()
	if runtime.GOARCH != "amd64" {
		tb.Skipf("spacefloor: amd64 only (its filter is space_filter_amd64.go's), not %s", runtime.GOARCH)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		tb.Skip("spacefloor: no gcc (apt-get install gcc)")
	}
	prog := filepath.Join(tb.TempDir(), "spacefloor")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", prog, "testdata/spacefloor.c", "-lpthread").CombinedOutput(); err != nil {
		tb.Fatalf("gcc spacefloor.c: %v\n%s", err, out)
	}
	return prog
}
