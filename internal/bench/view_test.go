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
// The goal: the view costs at most 10% once warm. With $BPROC_BIN_BEFORE
// (another build, say the one before a change) its pair of nodes is timed
// in the same turns, and its rows printed beside.
func BenchmarkViewWarm(b *testing.B) {
	needRoot(b)
	bins := []struct{ label, bin string }{{"", binary(b)}}
	if before := os.Getenv("BPROC_BIN_BEFORE"); before != "" {
		bins = append(bins, struct{ label, bin string }{" (before: " + before + ")", before})
	}
	// The system's python3, not a shim in the caller's PATH (pyenv's is
	// a shell script that walks the caller's home).
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		b.Skip("no /usr/bin/python3")
	}
	var clusters []*Cluster // diskless, bound, for each binary in turn
	for _, x := range bins {
		for _, mode := range []string{"--diskless", "--no-diskless"} {
			c, err := StartCluster(x.bin, 1, mode)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			clusters = append(clusters, c)
		}
	}
	for _, row := range []struct {
		what string
		argv []string
		runs int
	}{
		{"bpsh 0 true", []string{"true"}, *runs},
		{"bpsh 0 python3 -c 'import json, email, http.client'", []string{python, "-c", "import json, email, http.client"}, min(*runs, viewRuns)},
	} {
		var timers []*Timer
		for _, c := range clusters {
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
		for i, x := range bins {
			disk, bound := took[2*i], took[2*i+1]
			report.Add(row.what+", diskless (the view)"+x.label, "ms", Millis(disk), Goal{})
			report.Add(row.what+", --no-diskless"+x.label, "ms", Millis(bound), Goal{})
			ratios := make([]float64, len(disk))
			for k := range ratios {
				ratios[k] = float64(disk[k]) / float64(bound[k])
			}
			report.Add("  "+row.what+": diskless / --no-diskless, paired by round"+x.label, "x", ratios, AtMost(1.1, "x"))
		}
	}
	report.Note("view warm: masters of one node each, diskless and --no-diskless, timed in turn after %d warm-up rounds", warmup)
}

// BenchmarkViewCold times the first `bpsh -a true` after 16 diskless
// nodes came up (booted with the config's libraries read into their
// caches) against the runs after it. The goal: the first at most twice a
// warm one.
func BenchmarkViewCold(b *testing.B) {
	needRoot(b)
	bins := []struct{ label, bin string }{{"", binary(b)}}
	if before := os.Getenv("BPROC_BIN_BEFORE"); before != "" {
		bins = append(bins, struct{ label, bin string }{" (before: " + before + ")", before})
	}
	const nodes = 16
	conf := librariesConfig(b)
	for _, x := range bins {
		c, err := StartCluster(x.bin, nodes, "--diskless", "--config", conf)
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
		report.Add(fmt.Sprintf("bpsh -a true on %d diskless nodes, first run (cold)%s", nodes, x.label), "ms", Millis(took[:1]), Goal{})
		report.Add(fmt.Sprintf("bpsh -a true on %d diskless nodes, warm%s", nodes, x.label), "ms", Millis(took[1:]), Goal{})
		report.Add("  cold / warm"+x.label, "x", []float64{float64(took[0].Microseconds()) / 1000 / warm}, AtMost(2, "x"))
	}
	report.Note("view cold: %d fresh local --diskless nodes, config libraries = the C library and loader; warm is the median of the next 10 runs", nodes)
}

// librariesConfig writes a config whose libraries are the C library and
// the dynamic loader, what every program of the master's opens first:
// the cold rows' goal is for nodes that read the config's libraries at
// boot.
func librariesConfig(b *testing.B) string {
	b.Helper()
	conf := filepath.Join(b.TempDir(), "bproc.conf")
	libs := "libraries /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	if err := os.WriteFile(conf, []byte(libs), 0o644); err != nil {
		b.Fatal(err)
	}
	return conf
}
