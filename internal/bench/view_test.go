package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// viewRuns bounds the timed runs of the python rows (a tenth of a second
// each, four commands a round).
const viewRuns = 40

// BenchmarkViewWarm sets a diskless node (the view of the master's files)
// beside a --no-diskless one (the master's directories bound into its
// root), each its own master with one node, and times the same commands
// on both in turn: `bpsh 0 true` and a Python start with a few imports.
// The goal: the view costs at most 10% once warm.
func BenchmarkViewWarm(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	// The system's python3, not a shim in the caller's PATH (pyenv's is
	// a shell script that walks the caller's home).
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		b.Skip("no /usr/bin/python3")
	}
	disk, err := StartCluster(bin, 1, "--diskless")
	if err != nil {
		b.Fatal(err)
	}
	defer disk.Stop()
	bound, err := StartCluster(bin, 1, "--no-diskless")
	if err != nil {
		b.Fatal(err)
	}
	defer bound.Stop()
	for _, row := range []struct {
		what string
		argv []string
		runs int
	}{
		{"bpsh 0 true", []string{"true"}, *runs},
		{"bpsh 0 python3 -c 'import json, email, http.client'", []string{python, "-c", "import json, email, http.client"}, min(*runs, viewRuns)},
	} {
		var timers []*Timer
		for _, c := range []*Cluster{disk, bound} {
			t, err := NewTimer(c.Env(), append([]string{c.Applet("bpsh"), "0"}, row.argv...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			timers = append(timers, t)
		}
		took, err := InTurn(timers, warmup, row.runs)
		if err != nil {
			b.Fatal(err)
		}
		report.Add(row.what+", diskless (the view)", "ms", Millis(took[0]), Goal{})
		report.Add(row.what+", --no-diskless", "ms", Millis(took[1]), Goal{})
		ratios := make([]float64, len(took[0]))
		for i := range ratios {
			ratios[i] = float64(took[0][i]) / float64(took[1][i])
		}
		report.Add("  "+row.what+": diskless / --no-diskless, paired by round", "x", ratios, AtMost(1.1, "x"))
	}
	report.Note("view warm: two masters of one node each, diskless and --no-diskless, timed in turn after %d warm-up rounds", warmup)
}

// BenchmarkViewCold times the first `bpsh -a true` after 16 diskless
// nodes came up (booted with the config's libraries read into their
// caches) against the runs after it. The goal: the first at most twice a
// warm one.
func BenchmarkViewCold(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	const nodes = 16
	dir := b.TempDir()
	conf := filepath.Join(dir, "bproc.conf")
	// The C library and the dynamic loader: what every program of the
	// master's opens first.
	libs := "libraries /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	if err := os.WriteFile(conf, []byte(libs), 0o644); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		c, err := StartCluster(bin, nodes, "--diskless", "--config", conf)
		if err != nil {
			b.Fatal(err)
		}
		t, err := NewTimer(c.Env(), c.Applet("bpsh"), "-a", "true")
		if err != nil {
			c.Stop()
			b.Fatal(err)
		}
		var took []time.Duration
		for i := range 11 {
			d, err := t.Run()
			if err != nil {
				t.Close()
				c.Stop()
				b.Fatalf("run %d: %v", i, err)
			}
			took = append(took, d)
		}
		t.Close()
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
		warm := Summarize(Millis(took[1:])).Median
		report.Add(fmt.Sprintf("bpsh -a true on %d diskless nodes, first run (cold)", nodes), "ms", Millis(took[:1]), Goal{})
		report.Add(fmt.Sprintf("bpsh -a true on %d diskless nodes, warm", nodes), "ms", Millis(took[1:]), Goal{})
		report.Add("  cold / warm", "x", []float64{float64(took[0].Microseconds()) / 1000 / warm}, AtMost(2, "x"))
	}
	report.Note("view cold: %d fresh local --diskless nodes, config libraries = the C library and loader; warm is the median of the next 10 runs", nodes)
}
