package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// forkPathIterations is how many iterations of the loop each traced run
// has: enough for stable medians, few enough for the trace's buffer.
const forkPathIterations = 500

// BenchmarkSpaceForkPath says where BenchmarkSpaceForks' time goes: the
// same loop on a node with the space on and one with it off, traced with
// ftrace at the shell's and its children's syscalls (forkpath.go), three
// runs in turn; each phase of an iteration, on beside off. The phases add
// up to an iteration; the difference of their medians is what the space
// adds there. Tracing costs each traced call a little, alike on and off.
func BenchmarkSpaceForkPath(b *testing.B) {
	on := cluster(b)
	off := spaceOffCluster(b)
	type samples struct {
		phases [][]float64
		total  []float64
	}
	got := map[*Cluster]*samples{on: {phases: make([][]float64, len(forkPhases))}, off: {phases: make([][]float64, len(forkPhases))}}
	for range 3 {
		for _, c := range []*Cluster{on, off} {
			its, err := traceForkLoop(c, forkPathIterations)
			if errors.Is(err, errNoTracefs) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			if len(its) < forkPathIterations*9/10 {
				b.Fatalf("trace: %d whole iterations of %d", len(its), forkPathIterations)
			}
			phases, total := forkPathSpans(its)
			for p := range phases {
				got[c].phases[p] = append(got[c].phases[p], phases[p]...)
			}
			got[c].total = append(got[c].total, total...)
		}
	}
	var added []string
	for p, ph := range forkPhases {
		row := report.AddRatio("fork loop phase: "+ph.What, "ms", got[on].phases[p], "space off", got[off].phases[p], Goal{})
		added = append(added, fmt.Sprintf("%+.3f ms %s", row.Summary.Median-row.Peer.Summary.Median, ph.What))
	}
	row := report.AddRatio("fork loop: one iteration (traced)", "ms", got[on].total, "space off", got[off].total, Goal{})
	b.ReportMetric(float64(row.Ratio), "on/off")
	report.Note("fork path: the space adds %.3f ms per iteration (medians): %s", row.Summary.Median-row.Peer.Summary.Median, strings.Join(added, "; "))
}

// TestParseForkLoop reads a trace of three iterations of the loop taken
// on this project's machine (testdata/forkpath.trace, cut from a run of
// BenchmarkSpaceForkPath with the space on, with a ghost's wait4 and a
// foreign vfork left in): two whole iterations, their phases in order.
func TestParseForkLoop(t *testing.T) {
	f, err := os.Open("testdata/forkpath.trace")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	its, err := parseForkLoop(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(its) != 3 {
		t.Fatalf("%d iterations, want 3: %+v", len(its), its)
	}
	phases, total := forkPathSpans(its)
	if len(total) != 2 {
		t.Fatalf("%d iteration lengths, want 2", len(total))
	}
	for i := range total {
		var sum float64
		for p := range phases {
			if phases[p][i] < 0 {
				t.Errorf("iteration %d: phase %q is %.3f ms", i, forkPhases[p].What, phases[p][i])
			}
			sum += phases[p][i]
		}
		if math.Abs(sum-total[i]) > 1e-6 {
			t.Errorf("iteration %d: phases add up to %.6f ms, the iteration is %.6f ms", i, sum, total[i])
		}
	}
	// The first iteration, by hand from the file.
	want := []float64{1.432, 0.131, 0.167, 0.570, 2.119, 0.430}
	for p, w := range want {
		if math.Abs(phases[p][0]-w) > 0.0005 {
			t.Errorf("phase %q: %.3f ms, want %.3f", forkPhases[p].What, phases[p][0], w)
		}
	}
	if slices.ContainsFunc(total, func(v float64) bool { return v <= 0 }) {
		t.Errorf("iteration lengths %v", total)
	}
}

// TestParseForkLoopEmpty: a trace without the loop is an error naming
// what was missing, not zero iterations that look measured.
func TestParseForkLoopEmpty(t *testing.T) {
	_, err := parseForkLoop(strings.NewReader("# tracer: nop\n          <idle>-0       [000] d..2. 100.000001: sched_process_exit: comm=x pid=1\n"))
	if err == nil || !strings.Contains(err.Error(), "no vfork") {
		t.Fatalf("err = %v, want one saying there was no vfork", err)
	}
}
