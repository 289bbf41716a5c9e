package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
)

// A fork loop's iteration, split where its syscalls enter and leave, from
// an ftrace of the loop's shell and its children (forkpath_trace.go).
// Seccomp runs before the sys_enter tracepoint: a call's notification,
// with whatever the supervisor (and, for a fork, the master) does before
// answering it, is time before its enter, so it falls in the phase that
// ends at that enter.
type iteration struct {
	vforkEnter  float64 // the shell enters vfork (its notification answered)
	childRuns   float64 // the child returns from vfork
	execEnter   float64 // the child enters execve
	execExit    float64 // ...and returns from it, running /bin/true
	exitEnter   float64 // /bin/true enters exit_group
	dead        float64 // ...and is gone (sched_process_exit)
	waitReturns float64 // the shell's wait4 returns the child
}

// forkPhase is one span of an iteration: from one of its moments to a
// later one (or to the next iteration's vfork enter).
type forkPhase struct {
	What     string
	from, to func(it, next iteration) float64
}

// forkPhases are the spans BenchmarkSpaceForkPath reports; they add up
// to an iteration.
var forkPhases = []forkPhase{
	{"wait4 return to next vfork: wait4's and vfork's notifications, the master's round trip",
		func(it, _ iteration) float64 { return it.waitReturns }, func(_, next iteration) float64 { return next.vforkEnter }},
	{"vfork to its child running",
		func(it, _ iteration) float64 { return it.vforkEnter }, func(it, _ iteration) float64 { return it.childRuns }},
	{"child to execve: execve's notification",
		func(it, _ iteration) float64 { return it.childRuns }, func(it, _ iteration) float64 { return it.execEnter }},
	{"execve",
		func(it, _ iteration) float64 { return it.execEnter }, func(it, _ iteration) float64 { return it.execExit }},
	{"/bin/true to exit_group: its run, exit_group's notification",
		func(it, _ iteration) float64 { return it.execExit }, func(it, _ iteration) float64 { return it.exitEnter }},
	{"exit_group to the shell's wait4 return",
		func(it, _ iteration) float64 { return it.exitEnter }, func(it, _ iteration) float64 { return it.waitReturns }},
}

// traceLine is an ftrace text line: "comm-PID [CPU] flags SECONDS: event".
// The comm may hold dashes; the PID is the last number before the CPU.
var traceLine = regexp.MustCompile(`^\s*(.+)-(\d+)\s+\[\d+\]\s+\S+\s+(\d+\.\d+): (sys_vfork|sys_execve|sys_exit_group|sys_wait4|sched_process_exit)(\(| ->|:)(.*)$`)

// parseForkLoop reads a trace of the events forkPathEvents names and
// returns the loop's iterations, in order: the loop's shell is the
// process that entered vfork most often. An iteration missing one of its
// moments (the first and last, cut by the trace's start and end, or one
// whose events were lost) is left out.
func parseForkLoop(r io.Reader) ([]iteration, error) {
	type event struct {
		t       float64 // microseconds
		pid     int
		name    string
		isEnter bool
		zero    bool // a return of 0 (the child's side of vfork)
	}
	var events []event
	vforks := map[int]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, fmt.Errorf("trace: pid %q: %w", m[2], err)
		}
		secs, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("trace: time %q: %w", m[3], err)
		}
		e := event{t: secs * 1e6, pid: pid, name: m[4], isEnter: m[5] == "(", zero: m[5] == " ->" && m[6] == " 0x0"}
		if e.name == "sys_vfork" && e.isEnter {
			vforks[pid]++
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	shell, most := 0, 0
	for pid, n := range vforks {
		if n > most {
			shell, most = pid, n
		}
	}
	if most == 0 {
		return nil, fmt.Errorf("trace: no vfork in %d events", len(events))
	}
	var (
		its   []iteration
		cur   *iteration
		child int
	)
	const unset = -1
	for _, e := range events {
		switch {
		case e.pid == shell && e.name == "sys_vfork" && e.isEnter:
			its = append(its, iteration{vforkEnter: e.t, childRuns: unset, execEnter: unset, execExit: unset, exitEnter: unset, dead: unset, waitReturns: unset})
			cur, child = &its[len(its)-1], 0
		case cur == nil:
		case e.pid != shell && e.name == "sys_vfork" && e.zero && child == 0:
			cur.childRuns, child = e.t, e.pid
		case child == 0 || (e.pid != child && e.pid != shell):
		case e.pid == child && e.name == "sys_execve" && e.isEnter && cur.execEnter == unset:
			cur.execEnter = e.t
		case e.pid == child && e.name == "sys_execve" && !e.isEnter && cur.execExit == unset:
			cur.execExit = e.t
		case e.pid == child && e.name == "sys_exit_group":
			cur.exitEnter = e.t
		case e.pid == child && e.name == "sched_process_exit":
			cur.dead = e.t
		case e.pid == shell && e.name == "sys_wait4" && !e.isEnter && cur.waitReturns == unset && cur.dead != unset:
			cur.waitReturns = e.t
		}
	}
	return slices.DeleteFunc(its, func(it iteration) bool {
		return slices.Contains([]float64{it.childRuns, it.execEnter, it.execExit, it.exitEnter, it.dead, it.waitReturns}, unset)
	}), nil
}

// forkPathSpans returns, for each of forkPhases, its length in
// milliseconds in each pair of consecutive iterations, and the
// iterations' own lengths.
func forkPathSpans(its []iteration) (phases [][]float64, total []float64) {
	phases = make([][]float64, len(forkPhases))
	for i := 0; i+1 < len(its); i++ {
		it, next := its[i], its[i+1]
		for p, ph := range forkPhases {
			phases[p] = append(phases[p], (ph.to(it, next)-ph.from(it, next))/1000)
		}
		total = append(total, (next.vforkEnter-it.vforkEnter)/1000)
	}
	return phases, total
}
