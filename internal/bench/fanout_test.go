package bench

import (
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"
)

var fanoutRuns = flag.Int("fanout-runs", 7, "timed runs of each command in the fan-out rows")

// fanoutSizes are the node counts for `bpsh -a true`.
var fanoutSizes = []int{8, 32, 128, 256}

// BenchmarkFanout runs `true` on 8, 32, 128 and 256 nodes at once: bpsh
// on local nodes, and pdsh and clush on as many ssh targets (a loopback
// address each, a warm ControlMaster each), each peer in its strongest
// form: its fan-out as wide as the targets, so that none of them waits
// for a slot. The goal: bpsh on 256 nodes in under 1 s.
//
// All sizes run against one master of 256 nodes (bpsh 0-7, 0-31, ...,
// and -a for all 256), as pdsh and clush take the first n of 256 targets.
// The commands take turns in a rotating order, so whatever else the
// machine does falls on all of them alike.
func BenchmarkFanout(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	maxN := fanoutSizes[len(fanoutSizes)-1]
	openFiles(b, 1<<16)
	var farm *SSHFarm
	err := ensurePdshClush(b.Logf)
	if err == nil {
		farm, err = StartSSHFarm(b.Logf, maxN)
	}
	if err != nil {
		report.Note("fan-out: no pdsh and clush rows: %v", err)
		b.Logf("no pdsh and clush rows: %v", err)
	} else {
		stopAtEnd(b, "ssh farm", farm.Stop)
		report.Note("fan-out: %d ssh targets (loopback addresses, %d sshds) with a ControlMaster each, up in %.1f s",
			maxN, (maxN+listenPerSSHD-1)/listenPerSSHD, farm.SetupTime.Seconds())
	}
	c := bigCluster(b, bin, maxN)

	type cmd struct {
		what  string
		tool  string
		n     int
		goal  Goal
		timer *Timer
		took  []time.Duration
	}
	var cmds []*cmd
	add := func(what, tool string, n int, goal Goal, env []string, argv ...string) {
		t, err := NewTimer(env, argv...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		cmds = append(cmds, &cmd{what: what, tool: tool, n: n, goal: goal, timer: t})
	}
	for _, n := range fanoutSizes {
		spec := fmt.Sprintf("0-%d", n-1)
		var goal Goal
		if n == maxN {
			spec, goal = "-a", AtMost(1, "s")
		}
		add(fmt.Sprintf("bpsh %s true, %d nodes", spec, n), "bpsh", n, goal, c.Env(), c.Applet("bpsh"), spec, "true")
		if farm == nil {
			continue
		}
		pdsh, clush, err := farm.PdshClush(n)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range []*ParallelShell{pdsh, clush} {
			env, argv := s.Command(farm.Hostlist(n), "true")
			add(fmt.Sprintf("%s -f %d true, %d ssh targets", s.Name, n, n), s.Name, n, Goal{}, env, argv...)
		}
	}

	// One warm-up round: the first run of each pays for the page cache
	// and for the sshds' and nodes' first sessions.
	timers := make([]*Timer, len(cmds))
	for i, x := range cmds {
		timers[i] = x.timer
	}
	took, err := InTurn(timers, 1, *fanoutRuns)
	if err != nil {
		b.Fatal(err)
	}
	for i, x := range cmds {
		x.took = took[i]
	}
	for _, x := range cmds {
		row := report.AddPoint(x.what, "s", seconds(x.took), x.goal, "true on N nodes at once: "+x.tool, float64(x.n))
		if x.goal != (Goal{}) {
			b.ReportMetric(row.Summary.Median, "s-bpsh-"+strconv.Itoa(x.n))
		}
	}
	if farm != nil {
		pdsh, clush, _ := farm.PdshClush(maxN)
		report.Note("fan-out: pdsh is `%s`, clush `%s`, each with -w the first n targets", pdsh.Given(), clush.Given())
	}
}
