package bpsh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
	"github.com/bproc/bproc/internal/shared/wire"
)

// runner is one bpsh invocation from start to exit status.
type runner struct {
	cli    cli
	io     applets.IO
	client *apiclient.Client
	// cmd is what every rank runs (its Path resolved here, or a Builtin).
	cmd   wire.Command
	nodes []int
	// elems are the spec's elements when it named nodes by number only
	// (nodeset.Numbers): the master has not yet said they are nodes.
	elems []string
	sigs  <-chan os.Signal // caught by catch
	// ssh is bprsh's run: its messages ("bprsh: n3: ..."), -q, and
	// -tt's pseudo-terminal without a local one.
	ssh *Remote
	tm  *timing // BPROC_TIMING

	ranks []*rank
	// attached counts the ranks whose ghosts the master started (bpsh
	// runs on a node; attach.go).
	attached int
	pmi      *pmiJob // --pmi
	outW     *lockedWriter
	errW     *lockedWriter
	sinks    sync.WaitGroup
}

// rank is one process: a node entry of the spec.
type rank struct {
	index   int // in ranks
	node    int
	pid     int
	ws      unix.WaitStatus
	reaped  bool
	errText string // why it did not run, or was cut off
	started bool
	final   bool
	// attached: its ghost is the master's, its stdio joined through the
	// master (attach.go).
	attached bool
	out      *sink
	err      *sink
}

func (r *runner) run(ctx context.Context) (int, error) {
	began := time.Now()
	r.outW = &lockedWriter{w: r.io.Stdout}
	r.errW = &lockedWriter{w: r.io.Stderr}
	req := localapi.Run{Command: r.cmd}
	if r.cli.PMI {
		var err error
		if r.pmi, err = r.startPMI(); err != nil {
			return 0, err
		}
		defer r.pmi.close()
	}
	r.ranks = make([]*rank, len(r.nodes))
	var remote []int // rank index of each entry of req.Nodes
	for i, n := range r.nodes {
		r.ranks[i] = &rank{index: i, node: n}
		if n != nodeset.Master {
			req.Nodes = append(req.Nodes, n)
			remote = append(remote, i)
			if r.pmi != nil {
				req.RankEnv = append(req.RankEnv, r.pmi.env(i))
			}
		}
	}
	if r.cli.TTY {
		restore, tty, err := rawTerminal(r.io.Stdin)
		switch {
		case err != nil && r.ssh != nil && r.ssh.ForceTTY:
			// ssh -tt: the node's terminal, with no local one to set.
			req.TTY = &wire.TTY{Term: os.Getenv("TERM")}
		case err != nil:
			return 0, &applets.UsageError{Err: err}
		default:
			defer restore()
			req.TTY = tty
		}
	}
	fanIn := r.stdinFanout()
	var job *apiclient.Job
	var err error
	// The first remote rank's stdio is known before the master answers:
	// its ghost is forked and exec'd meanwhile (RunPrestarted).
	var firstFiles [3]*os.File
	var firstClose []*os.File
	if len(req.Nodes) > 0 {
		firstFiles, firstClose = r.files(remote[0], fanIn)
		if onNode() {
			// The master starts the ghosts (attach.go); a fork here
			// would be one of the node's process space, and mirrored.
			job, err = r.client.Run(req)
		} else {
			job, err = r.client.RunPrestarted(req, firstFiles, true)
		}
		if err != nil {
			closeAll(firstClose)
			return 0, err
		}
		r.tm.mark("master answered")
		defer job.Close()
		job.ForwardSignals()
		if err := r.checkNumbers(job); err != nil {
			closeAll(firstClose)
			return 0, err
		}
	} else {
		r.client.Close()
	}

	byPID := map[int]*rank{}
	batch := r.ghostBatch(job, byPID)
	for k, i := range remote {
		rk := r.ranks[i]
		if e := job.Ranks[k].Error; e != "" {
			if k == 0 {
				closeAll(firstClose)
			}
			rk.errText, rk.final = e, true
			r.rankError(rk.node, e)
			continue
		}
		files, closeAfter := firstFiles, firstClose
		if k > 0 {
			files, closeAfter = r.files(i, fanIn)
		}
		if job.Ranks[k].PID != 0 {
			if err := r.attach(job, k, rk, files, closeAfter); err != nil {
				rk.errText, rk.final = err.Error(), true
				r.rankError(rk.node, err.Error())
			}
			continue
		}
		batch.add(k, rk, files, closeAfter)
	}
	batch.flush()
	for i, rk := range r.ranks {
		if rk.node != nodeset.Master {
			continue
		}
		files, closeAfter := r.files(i, fanIn)
		p, err := os.StartProcess(r.cmd.Path, r.cmd.Argv, &os.ProcAttr{Dir: r.cmd.Dir, Files: []*os.File{files[0], files[1], files[2]},
			Env: withEnv(os.Environ(), append([]string{fmt.Sprintf("BPROC_RANK=%07d", i), "BPROC_NODE=-1"}, pmiEnvOf(r.pmi, i)...))})
		closeAll(closeAfter)
		if err != nil {
			rk.errText, rk.final = err.Error(), true
			fmt.Fprintf(r.errW, "%d: %v\n", rk.node, err)
			continue
		}
		rk.pid, rk.started, rk.final = p.Pid, true, true
		byPID[p.Pid] = rk
	}
	fanIn.start()
	r.pmiUnstarted()
	r.tm.mark("ghosts started")

	reaped := make(chan struct{})
	go r.reap(byPID, reaped)
	var events <-chan localapi.Event
	if job != nil {
		events = job.Events
	}
	remoteRank := func(k int) *rank { return r.ranks[remote[k]] }
	stopped := r.pmi.stopped()
	for waiting := true; waiting; {
		select {
		case <-reaped:
			waiting = false
			r.tm.mark("ghosts reaped")
		case <-stopped:
			go r.pmi.killAll(reaped)
			stopped = nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.event(remoteRank, ev)
		case s := <-r.sigs:
			r.forward(byPID, s.(syscall.Signal))
		}
	}
	// Ranks whose ghosts are the master's end with their last event.
	for r.attached > 0 && events != nil && !r.allFinal() {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.event(remoteRank, ev)
		case s := <-r.sigs:
			r.forward(byPID, s.(syscall.Signal))
		}
	}
	// The master sends each rank's last event before it lets the ghost
	// exit, so it is already here, unless the master itself died.
	deadline := time.After(2 * time.Second)
	for events != nil && !r.allFinal() {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.event(remoteRank, ev)
		case <-deadline:
			events = nil
		}
	}
	if events == nil {
		r.sayLost() // the master hung up: a next one may know why ghosts died
	}
	r.tm.mark("statuses in")
	r.sinks.Wait()
	if r.cli.Gather {
		r.flushGathered()
	} else {
		r.flushSequential()
	}
	if r.cli.Time {
		fmt.Fprintf(r.errW, "%.6f\n", time.Since(began).Seconds())
	}
	return r.status(), nil
}

// checkNumbers fails a spec of node numbers of which one is no node, as
// nodeset.Parse would have with the table: exit 2, and nothing runs (the
// master forgets the other ranks when the job closes). With node numbers
// only, rank k is the spec's element k / --per-node.
func (r *runner) checkNumbers(job *apiclient.Job) error {
	if r.elems == nil {
		return nil
	}
	for k, rk := range job.Ranks {
		if errors.Is(apiclient.RankError(rk), localapi.ErrInvalidNode) {
			return applets.Exit(2, "%s", &nodeset.SpecError{Elem: r.elems[k/r.cli.PerNode]})
		}
	}
	return nil
}

// event records what the master says of a rank.
func (r *runner) event(rank func(int) *rank, ev localapi.Event) {
	if ev.Rank < 0 {
		return
	}
	rk := rank(ev.Rank)
	if ev.Warning != "" {
		r.warn(rk.node, ev.Warning)
	}
	if !ev.Final {
		return
	}
	rk.final, rk.started = true, ev.Started
	rk.attachedEnded(ev)
	if ev.Error != "" {
		rk.errText = ev.Error
		r.rankError(rk.node, ev.Error)
		r.pmiUnstarted()
	}
}

func (r *runner) allFinal() bool {
	for _, rk := range r.ranks {
		if !rk.final {
			return false
		}
	}
	return true
}

// reap waits for every ghost. A ghost stopped by SIGSTOP (which it cannot
// catch, so could not relay) has its remote process stopped too.
func (r *runner) reap(byPID map[int]*rank, done chan<- struct{}) {
	defer close(done)
	left := len(byPID)
	for left > 0 {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WUNTRACED|unix.WCONTINUED, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		rk := byPID[pid]
		if rk == nil {
			continue
		}
		if ws.Stopped() {
			if ws.StopSignal() == unix.SIGSTOP && rk.node != nodeset.Master {
				if c, err := apiclient.Dial(r.client.Socket); err == nil {
					c.Signal(pid, unix.SIGSTOP)
					c.Close()
				}
			}
			continue
		}
		if ws.Continued() {
			continue
		}
		rk.ws, rk.reaped = ws, true
		left--
		if r.pmi != nil {
			r.pmi.ended(rk)
		}
	}
}

// forward passes signals sent to bpsh itself on to every rank, once. A
// remote rank's copy goes through the master, not to its ghost with kill:
// the ghosts were started Forwarded, so they drop the copies a terminal
// sends to the whole foreground process group (see
// ghost.Group.Forwarded), and a SIGINT reaches the remote process once
// whether the terminal sent it or kill did (Python's Popen.send_signal,
// timeout -s INT). A kill to the ghost could find the terminal's copy
// still pending there, and a standard signal pending twice is one: the
// ghost would drop both. A process bpsh runs on the master itself (node
// -1) has no ghost to tell the two apart, so there the terminal's SIGINT
// and SIGQUIT are taken as having reached it already.
func (r *runner) forward(byPID map[int]*rank, sig syscall.Signal) {
	local := sig != syscall.SIGINT && sig != syscall.SIGQUIT || !terminalsForeground()
	var remote []int
	for pid, rk := range byPID {
		switch {
		case rk.reaped:
		case rk.node != nodeset.Master:
			remote = append(remote, pid)
		case local:
			syscall.Kill(pid, sig)
		}
	}
	r.signalRemote(remote, sig)
}

// statusOf is how a rank ended, for the exit status and the summary.
func (rk *rank) statusOf() (code int, how string) {
	// A reaped ghost tells how the process ended even when the node also
	// reported an error (a node that dies kills its ghosts with SIGKILL).
	switch {
	case rk.reaped:
		s := wire.FromWait(rk.ws)
		return s.Shell(), s.String()
	case rk.errText != "":
		return 255, rk.errText
	}
	return 255, "lost"
}

// status is bpsh's exit status: with one node the remote status itself, with
// several the largest, and a line for each node that died by a signal.
func (r *runner) status() int {
	worst := 0
	for _, rk := range r.ranks {
		code, how := rk.statusOf()
		if rk.reaped && rk.errText == "" && wire.FromWait(rk.ws).Signal != 0 && len(r.ranks) > 1 {
			fmt.Fprintf(r.errW, "bpsh: node %d: %s\n", rk.node, how)
		}
		worst = max(worst, code)
	}
	if r.cli.Gather {
		r.summary()
	}
	if code, stopped := r.pmi.status(); stopped {
		return code
	}
	return worst
}

// flushSequential shows held output in node-list order (-s, -d).
func (r *runner) flushSequential() {
	if !r.cli.Sequential {
		return
	}
	for _, rk := range r.ranks {
		if r.cli.Divider {
			io.WriteString(r.outW, divider(rk.node))
		}
		if rk.out != nil {
			r.outW.Write(rk.out.held.Bytes())
		}
		if rk.err != nil {
			r.errW.Write(rk.err.held.Bytes())
		}
	}
}

// withEnv is env with extra's variables replacing any of the same name
// (getenv takes the first of two).
func withEnv(env, extra []string) []string {
	own := map[string]bool{}
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		own[k] = true
	}
	out := make([]string, 0, len(env)+len(extra))
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); !own[k] {
			out = append(out, e)
		}
	}
	return append(out, extra...)
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// onNode says whether bpsh runs on a node, as a process that a bpsh
// started there (BPROC_NODE, which the master sets for every rank, is a
// node's number): then the master, not bpsh, starts its ghosts. It is a
// hint that only saves work: a wrong answer costs a ghost started in
// vain, or one not started early.
func onNode() bool {
	n, err := strconv.Atoi(os.Getenv("BPROC_NODE"))
	return err == nil && n >= 0
}
