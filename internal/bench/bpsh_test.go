package bench

import (
	"os"
	"testing"
	"time"
)

// warmup runs of each command are thrown away: the first runs pay for the
// page cache, the master's first connection paths and the ControlMaster's
// first session, which no user running many commands pays.
const warmup = 10

// BenchmarkStartup times `true` run five ways: locally (the floor: what
// fork+exec+wait costs here at all), with `bpsh 0 true`, with ssh over
// a warm ControlMaster, and with pdsh -R ssh and clush over that same
// ControlMaster. They take turns, in a rotating order, so that
// whatever else the machine does falls on all of them alike, and so that
// each round gives a paired ssh/bpsh ratio.
//
// The goals: bpsh at most 2 ms end to end, and at least 20 times faster
// than ssh at its best.
func BenchmarkStartup(b *testing.B) {
	c := cluster(b)
	type cmd struct {
		what   string
		metric string // for go test's own output, which allows no spaces
		goal   Goal
		timer  *Timer
		took   []time.Duration
	}
	var cmds []*cmd
	add := func(what, metric string, goal Goal, env []string, argv ...string) *cmd {
		t, err := NewTimer(env, argv...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		x := &cmd{what: what, metric: metric, goal: goal, timer: t}
		cmds = append(cmds, x)
		return x
	}
	add("/bin/true, local (floor)", "true", Goal{}, os.Environ(), "/bin/true")
	bpsh := add("bpsh 0 true", "bpsh", AtMost(2, "ms"), c.Env(), c.Applet("bpsh"), "0", "true")
	var ssh *cmd
	if peer, err := sshPeer(b); err != nil {
		report.Note("no ssh rows: %v", err)
		b.Logf("no ssh rows: %v", err)
	} else {
		ssh = add("ssh 127.0.0.1 true, warm ControlMaster", "ssh", Goal{}, os.Environ(), peer.Command("true")...)
		// pdsh and clush through the same ControlMaster: what they add
		// to one ssh for a single target.
		if err := ensurePdshClush(b.Logf); err != nil {
			report.Note("no pdsh and clush rows: %v", err)
		} else if pdsh, clush, err := peer.PdshClush(); err != nil {
			b.Fatal(err)
		} else {
			for _, s := range []*ParallelShell{pdsh, clush} {
				env, argv := s.Command("127.0.0.1", "true")
				add(s.Name+" -w 127.0.0.1 true, warm ControlMaster", s.Name, Goal{}, env, argv...)
			}
		}
	}

	timers := make([]*Timer, len(cmds))
	for i, x := range cmds {
		timers[i] = x.timer
	}
	took, err := InTurn(timers, warmup, *runs)
	if err != nil {
		b.Fatal(err)
	}
	for i, x := range cmds {
		x.took = took[i]
	}

	for _, x := range cmds {
		row := report.Add(x.what, "ms", Millis(x.took), x.goal)
		b.ReportMetric(row.Summary.Median, "ms-median-"+x.metric)
	}
	// The op of go test's own line is one `bpsh 0 true`, not the whole
	// run of a thousand commands.
	b.ReportMetric(Summarize(Millis(bpsh.took)).Median*float64(time.Millisecond), "ns/op")
	if ssh != nil {
		ratios := make([]float64, len(bpsh.took))
		for i := range ratios {
			ratios[i] = float64(ssh.took[i]) / float64(bpsh.took[i])
		}
		row := report.Add("ssh / bpsh, paired by round", "x", ratios, AtLeast(20, "x"))
		b.ReportMetric(row.Summary.Median, "x-ssh/bpsh")
	}
}
