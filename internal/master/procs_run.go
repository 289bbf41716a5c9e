package master

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// BProc's errors, which users and scripts know by their texts.
var (
	errInvalidNode  = localapi.ErrInvalidNode
	errNodeDown     = localapi.ErrNodeDown
	errNotPermitted = localapi.ErrNotPermitted
	errNodeDied     = localapi.ErrSlaveDied
)

// maxRanks bounds one run request.
const maxRanks = 1 << 20

// job is one run request of a client: a rank per node entry.
type job struct {
	c    *client
	cred localapi.Cred
	cmd  wire.Command // what each rank runs
	// outputs are the stdout and stderr its ghosts handed over, each
	// open file once however many ghosts write to it.
	outputs outputs
	// ends says its processes end when its client hangs up (endJob):
	// a run that is not Detach.
	ends bool
	// asked is when the run was asked for (the launch durations).
	asked time.Time
	// pushes are its ranks' push lists, made once (procs_run_push.go).
	pushes pushCache

	// Under the master's mu.
	procs  map[*proc]struct{} // running: registered by run, forgotten by end
	peak   int                // the most procs held (shrunk)
	hungUp bool               // endJob has run: a process registered since ends at once
}

// rank is an entry of a job waiting for its ghost to connect.
type rank struct {
	job   *job
	index int
	node  int
	token ghost.Token
	pre   *preChannel // a moved process: already on the node
	desc  *descendant // a process a remote process forked (procs_space.go)
	env   []string    // the run request's RankEnv of this rank
}

func (m *Master) newJob(c *client, r *localapi.Run) (*job, []localapi.Rank, error) {
	switch {
	case r == nil:
		return nil, nil, errors.New("run: missing request")
	case len(r.Nodes) == 0:
		return nil, nil, errors.New("run: no nodes")
	case len(r.Nodes) > maxRanks:
		return nil, nil, fmt.Errorf("run: %d ranks exceed the limit of %d", len(r.Nodes), maxRanks)
	}
	if err := r.Command.Validate(); err != nil {
		return nil, nil, fmt.Errorf("run: %w", err)
	}
	if err := r.CheckRankEnv(); err != nil {
		return nil, nil, fmt.Errorf("run: %w", err)
	}
	j := &job{c: c, cred: c.cred, cmd: r.Command, ends: !r.Detach && !r.Stub, asked: time.Now()}
	out := make([]localapi.Rank, len(r.Nodes))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, num := range r.Nodes {
		out[i].Node = num
		n := m.nodes[num]
		switch {
		case n == nil:
			out[i].Refuse(errInvalidNode)
		case n.accessError(c.cred) != nil:
			out[i].Refuse(n.accessError(c.cred))
		default:
			tok, err := ghost.NewToken()
			if err != nil {
				return nil, nil, err
			}
			rk := &rank{job: j, index: i, node: num, token: tok}
			if r.RankEnv != nil {
				rk.env = r.RankEnv[i]
			}
			m.pending[tok] = rk
			out[i].Token = tok.String()
		}
	}
	return j, out, nil
}

// dropJob forgets the ranks whose ghosts never came: their client is gone.
func (m *Master) dropJob(j *job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tok, r := range m.pending {
		if r.job == j {
			delete(m.pending, tok)
		}
	}
}

// endJob ends j's processes still running, once its client has hung up
// with them: the client died (bpsh killed by SIGKILL), and they die with
// it, as an ssh session's processes with its client. Their ghosts then
// die as they do (SIGKILL), and their parent's parent reaps them.
func (m *Master) endJob(j *job) {
	if !j.ends {
		return
	}
	m.mu.Lock()
	j.hungUp = true
	ps := make([]*proc, 0, len(j.procs))
	for p := range j.procs {
		// Only the client's own ranks: what they forked is in the space
		// on its own (an orphan keeps its ghost until it ends), as a
		// shell's background job outlives an ssh session's command.
		if p.rank.desc == nil {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	for _, p := range ps {
		p.signal(syscall.SIGKILL)
	}
}

func (m *Master) procList() []localapi.Proc {
	m.mu.Lock()
	out := make([]localapi.Proc, 0, len(m.procs))
	var ps []*proc
	for _, p := range m.procs {
		out = append(out, localapi.Proc{PID: p.pid, NodePID: p.nodePID, Node: p.rank.node, UID: p.job.cred.UID, Argv: p.job.cmd.Argv})
		ps = append(ps, p)
	}
	m.mu.Unlock()
	showArgvs(ps, out) // procs_space_change.go
	for i := range out {
		out[i].PPID = ghostParent(out[i].PID)
	}
	return out
}

// proc is a remote process and its ghost, one per live process and
// descendant: its fields are ordered without padding, and what few
// processes use is made at its first use, so that it fits the 352-byte
// size class (TestProcSize).
type proc struct {
	m     *Master
	pid   int // the ghost's PID
	rank  *rank
	job   *job
	ghost ghostConn
	// release uncounts the ghost's connection (conns).
	release func()
	files   [3]*os.File
	first   *node // the node it started on
	// returned: its ghost came back to this master, which it had not
	// met before (procs_restart.go); the job is this process alone.
	returned bool
	// oldGhost: its ghost came back from a master of before resume
	// version 2, and knows no ghost.CmdData (procs_ghostout.go).
	oldGhost bool

	// The ghost watch's, under its mutex.
	watched bool
	hungUp  bool  // the ghost has hung up
	evLen   uint8 // bytes of ev read so far
	ev      [ghost.EventSize]byte
	gfd     int    // the ghost's socket, read directly (see readGhost)
	watchID uint64 // its entry in the ghost watch

	mu        sync.Mutex // guards the fields below
	ghostGone bool       // the ghost was killed
	sending   bool       // the sender runs (see send)
	execd     bool       // it exec'd on its node: its ghost shows its argv (procs_space_change.go)
	sigs      int32      // signals in queue, bounded (procs_sigbound.go)
	ch        ssh.Channel
	nodePID   int
	next      *preChannel // the node it is being moved to, once it runs there
	// home is closed once the relay has ended for a process moving back
	// to the master (moveHome): it is no longer remote, and its ghost
	// becomes it.
	home chan struct{}
	// queue is what the sender sends, in order.
	queue []func()
	// quiet is what the master did to the stopped ghost itself, not to
	// be relayed (procs_space_stop.go); nil until it does.
	quiet *quietSignals
	// forking is the rank of the fork that waits for its ghost's
	// EventForked (procs_space_pair.go).
	forking *rank
	// startingOn is the node its start was sent to until the node says
	// its PID there (guarded by m.mu; see Master.startSent).
	startingOn *node

	rs resumeState // taken back after a lost connection (procs_resume.go)
}

// serveGhost takes a ghost from hello to exit.
// release uncounts its connection (conns) once the ghost is gone.
func (m *Master) serveGhost(c *net.UnixConn, cred localapi.Cred, first []byte, fds []int, release func(), provisional bool) {
	log := m.log.With("pid", cred.PID)
	hello := make([]byte, ghost.HelloSize)
	copy(hello, first)
	if _, err := io.ReadFull(c, hello[len(first):]); err != nil {
		closeAll(fds)
		m.warns.Warn(log, cred.UID, "ghost hello", "err", err)
		c.Close()
		release()
		return
	}
	c.SetReadDeadline(time.Time{})
	tok, mask, err := ghost.ParseHello(hello, len(fds))
	if err != nil {
		closeAll(fds)
		m.warns.Warn(log, cred.UID, "ghost hello", "err", err)
		c.Close()
		release()
		return
	}
	m.mu.Lock()
	r := m.pending[tok]
	if provisional && r != nil && r.desc == nil {
		// Let in past maxconns for a descendant's ghost only.
		m.mu.Unlock()
		closeAll(fds)
		m.refuseOverMax(c, cred)
		return
	}
	if r != nil && r.job.cred.UID == cred.UID {
		delete(m.pending, tok)
	}
	m.mu.Unlock()
	if r == nil || r.job.cred.UID != cred.UID {
		closeAll(fds)
		m.warns.Warn(log, cred.UID, "ghost refused: unknown token or another user's", "uid", cred.UID)
		ghost.WriteExit(c, 255)
		c.Close()
		release()
		return
	}
	if d := r.desc; d != nil && d.slot != nil {
		// Counted as a descendant from now on, not by maxconns
		// (api_conns_desc.go).
		release()
		d.slot.arrived()
		release = d.slot.release
	}
	var gc ghostConn = c
	// Out of Go's poller (sockConn); as it was if the dup fails.
	if sc, err := ownConn(c); err == nil {
		gc = sc
		if !m.routines.swap(c, sc) {
			closeAll(fds) // stopping: as if served no more
			release()
			return
		}
	}
	p := &proc{m: m, pid: cred.PID, rank: r, job: r.job, ghost: gc, release: release}
	p.takeFiles(fds, mask, log)
	p.run()
}

// takeFiles keeps the ghost's fds 0-2 (those in mask, in fds) for the
// process's stdio.
func (p *proc) takeFiles(fds []int, mask uint32, log *slog.Logger) {
	k := 0
	for i := 0; i < 3; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		fd := fds[k]
		k++
		var f *os.File
		var err error
		switch {
		case i > 0:
			f, err = p.job.outputs.open(fd)
		case isDevNull(fd):
			unix.Close(fd) // no stdin: the process reads EOF, and no descriptor is held
			continue
		default:
			f, err = stream(fd, false)
		}
		if err != nil {
			log.Warn("ghost stdio", "fd", i, "err", err)
			continue
		}
		p.files[i] = f
	}
}

// run starts the remote process and its relay.
func (p *proc) run() {
	if sc, ok := p.register(); ok {
		p.relayFrom(sc)
	}
}

// register puts the process in the tables and tells its ghost where it
// runs, then a fork waiting for it (born); ok is false if it ended
// there. sc is its node's connection then.
func (p *proc) register() (sc ssh.Conn, ok bool) {
	m := p.m
	if pre := p.rank.pre; pre != nil {
		// Known before it is in the tables: a move of it finds it by
		// its PID on the node (nodeProc) as soon as it is no longer
		// arriving.
		p.nodePID = pre.nodePID
	}
	if d := p.rank.desc; d != nil {
		// The node steers the child to its ghost's PID, and says so
		// if it could not (ReqForked). The fork's reply (born) goes
		// once the ghost is in the tables: the child's own forks and
		// ReqForked find it there.
		p.nodePID = p.pid
	}
	born := func() {
		if d := p.rank.desc; d != nil {
			m.mu.Lock()
			b := d.born // nil once the fork is over, or for a returned ghost
			m.mu.Unlock()
			if b == nil {
				return
			}
			b <- p.pid
			// The fork's answer (Master.fork, woken on this P) goes
			// out before this goroutine opens the adopt channel: the
			// forking process on the node waits for the one, not the
			// other. Unless this is the fork's goroutine, which
			// answers next (paired).
			if !d.answering {
				runtime.Gosched()
			}
		}
	}
	m.mu.Lock()
	n := m.nodes[p.rank.node]
	p.first = n
	sc = n.conn
	why := n.accessError(p.job.cred)
	if why != nil {
		m.mu.Unlock()
		if p.rank.pre != nil {
			p.rank.pre.ch.Close()
		}
		born()
		p.finish(wire.ExitStatus{Code: 255}, false, why)
		p.end()
		return nil, false
	}
	m.procs[p.pid] = p
	n.procs[p.pid] = p
	delete(n.moving, p.pid) // a moved process is a proc now
	if p.job.procs == nil {
		p.job.procs = make(map[*proc]struct{})
	}
	p.job.procs[p] = struct{}{}
	m.mu.Unlock()
	// The ghost hears where its process runs before the node can start
	// it (or a descendant's fork be answered): a master killed as it
	// starts leaves it to the next master (procs_restart.go).
	p.tellWhere()
	born()
	return sc, true
}

// relayFrom opens or takes the process's channel on sc and relays until
// it ends.
func (p *proc) relayFrom(sc ssh.Conn) {
	m := p.m
	var ch ssh.Channel
	var reqs <-chan *ssh.Request
	outs := moved
	if pre := p.rank.pre; pre != nil {
		ch, reqs = pre.ch, pre.reqs
	} else if p.rank.desc != nil {
		var ok bool
		if ch, reqs, ok = p.openAdopt(sc); !ok {
			p.end()
			return
		}
		outs = outputStreams{}
	} else {
		var ok bool
		if ch, reqs, outs, ok = p.open(sc, p.first); !ok {
			p.end()
			return
		}
	}
	// The channel is known before the ghost's events are read: a signal
	// sent to the ghost at once (a parent's kill right after
	// bproc_rfork returned) would otherwise find none and be lost.
	p.mu.Lock()
	p.ch = ch
	p.mu.Unlock()
	p.sendHeld() // those sent while its node started it
	m.procStarted(p)
	// Its client hung up while it started: endJob's signal found no
	// channel.
	m.mu.Lock()
	orphan := p.job.hungUp && p.rank.desc == nil
	m.mu.Unlock()
	if orphan {
		p.signal(syscall.SIGKILL)
	}
	if err := p.watchGhost(); err != nil {
		m.log.Warn("ghost watch", "pid", p.pid, "err", err)
		m.startHeard(p)
		ch.Close()
		// Read to their end: a descendant's relay hands its requests
		// over one at a time (spacemux), and would wait for a reader.
		go ssh.DiscardRequests(reqs)
		p.finish(wire.ExitStatus{Code: 255}, true, errNodeDied)
		p.end()
		return
	}
	p.relay(ch, reqs, outs, p.rank.desc != nil && p.rank.pre == nil)
}

// end forgets the process and closes what its ghost handed over.
func (p *proc) end() {
	m := p.m
	n := p.first
	// Only its own entries: once the ghost has exited, its PID may be a
	// new ghost's already.
	forget := func(procs map[int]*proc) {
		if procs[p.pid] == p {
			delete(procs, p.pid)
		}
	}
	m.mu.Lock()
	forget(m.procs)
	forget(n.procs)
	delete(p.job.procs, p)
	p.job.procs = shrunk(p.job.procs, &p.job.peak) // a shell's forks are its job's
	m.procs = shrunk(m.procs, &m.procsPeak)
	n.procs = shrunk(n.procs, &n.procsPeak)
	if now := m.nodes[p.rank.node]; now != nil && now != n {
		forget(now.procs) // moved since
		now.procs = shrunk(now.procs, &now.procsPeak)
	}
	m.mu.Unlock()
	if p.watched {
		m.ghosts.linger(p.watchID, p.gfd, p.ghost) // closed once its ghost has hung up
	} else {
		closeGhost(p.ghost)
	}
	p.release()
	p.closeFiles()
}

// finish tells the client how the rank ended, then the ghost, in that order:
// the client must hold the reason before it reaps the ghost.
func (p *proc) finish(s wire.ExitStatus, started bool, why error) {
	p.m.procEnded(p, s, started, why)
	if p.returned && why == errNodeDied {
		p.m.lost.record(p.pid, p.job.cred.UID) // its client is another master's (procs_lost.go)
	}
	if p.rank.desc == nil { // the client knows of its ranks only
		ev := localapi.Event{Rank: p.rank.index, PID: p.pid, Started: started, Status: s, Final: true}
		if why != nil {
			ev.Error, ev.Code = why.Error(), localapi.CodeOf(why)
		}
		p.job.c.send(ev)
	}
	if s.Signal != 0 {
		ghost.WriteSignal(p.ghost, s.Signal)
	} else {
		ghost.WriteExit(p.ghost, s.Code)
	}
}

// rankEnv is the caller's environment plus BPROC_RANK, BPROC_NODE and
// BPROC_PROGNAME (the program's path as bpsh resolved it, as BProc set
// it: env showed BPROC_PROGNAME=/usr/bin/env), then the rank's own
// variables, which win over the caller's.
func rankEnv(env []string, r *rank, prog string) []string {
	out := make([]string, 0, len(env)+3+len(r.env))
	// getenv takes the first of two entries of a name: drop the
	// caller's where the rank has its own.
	own := map[string]bool{"BPROC_RANK": true, "BPROC_NODE": true, "BPROC_PROGNAME": true}
	for _, e := range r.env {
		k, _, _ := strings.Cut(e, "=")
		own[k] = true
	}
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); !own[k] {
			out = append(out, e)
		}
	}
	out = append(out, fmt.Sprintf("BPROC_RANK=%07d", r.index), fmt.Sprintf("BPROC_NODE=%d", r.node), "BPROC_PROGNAME="+prog)
	return append(out, r.env...)
}

func (p *proc) closeFiles() {
	if f := p.files[0]; f != nil {
		f.Close()
	}
	for _, f := range p.files[1:] {
		if f != nil {
			p.job.outputs.release(f)
		}
	}
}

// open opens the node channel that starts the process.
func (p *proc) open(sc ssh.Conn, n *node) (ssh.Channel, <-chan *ssh.Request, outputStreams, bool) {
	start := wire.ProcStart{
		PID: p.pid, Node: p.rank.node, Rank: p.rank.index,
		Command: p.job.cmd,
		UID:     p.job.cred.UID, GID: p.job.cred.GID, Groups: p.job.cred.Groups,
	}
	start.Env = rankEnv(start.Env, p.rank, start.Path)
	nullOutputs(&start.Command, p.files)
	m := p.m
	m.mu.Lock()
	// A node with a view of the master's files reads them as the user
	// when the program runs; one without gets them pushed, and so does
	// every node a program in its own /tmp (nodePush).
	pushOnly, view := n.hello.Diskless && !n.hello.View, n.hello.View
	m.nodeLimits(&start)
	m.mu.Unlock()
	c := p.job.cred
	push, err := nodePush(&m.hashes, asuser.Cred{UID: c.UID, GID: c.GID, Groups: c.Groups}, &start, pushOnly, view, &p.job.pushes)
	if err != nil {
		p.finish(wire.ExitStatus{Code: pushCode(err)}, false, err)
		return nil, nil, outputStreams{}, false
	}
	start.Push = push
	// What changed on the master so far is dropped by the node's view
	// before the program looks (files_watch.go).
	m.views.barrier(n.num)
	m.startSent(p, n)
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanProc, wire.Encode(start))
	if err != nil {
		m.startHeard(p)
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			p.finish(wire.ExitStatus{Code: wire.RejectCode(oce.Reason)}, false, errors.New(oce.Message))
		} else {
			p.finish(wire.ExitStatus{Code: 255}, false, errNodeDied)
		}
		return nil, nil, outputStreams{}, false
	}
	return ch, reqs, outputsOf(&start.Command), true
}
