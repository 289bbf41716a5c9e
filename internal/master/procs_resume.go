package master

import (
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A node of protocol 2 keeps its processes through a lost connection (a
// master paused past the ping timeout, a network cut) for the grace time
// (Config.NodeGrace); so does the master their ghosts. The channel of such
// a process ends without an exit status; instead of "Slave node died" its
// relay waits for the node to come back: the node's hello lists what it
// kept (wire.NodeHello.Kept), the master answers which of those it takes
// back (wire.HelloReply.Resume) and opens a wire.ChanResume for each, with
// the bytes of output it has, and the relay goes on on that channel.
// Signals to the ghost meanwhile are held and sent once it is back.

// resumeState is a process's part of that.
type resumeState struct {
	// out counts the bytes of stdout and stderr received from the node:
	// where a resume goes on from.
	out [2]atomic.Int64
	// outs are the streams the node sends (relay's): a resume's too.
	outs outputStreams
	// written counts the bytes of stdout and stderr written to the
	// ghost's descriptors, as told to the ghost (procs_restart.go), under
	// noteMu, so that the ghost hears them in order.
	noteMu  sync.Mutex
	written [2]int64
	// wrote counts, when the ghost writes the output (procs_ghostout.go),
	// the bytes it said it wrote: what the node may let go of.
	wrote [2]atomic.Int64
	// movedOn: the streams started over on another node (startOver), so
	// the ghost must hear offsets of 0 too.
	movedOn bool
	// in is the stdin the node has not acknowledged (protocol 3), made
	// at its first use (kept): a process without stdin (a descendant)
	// holds none.
	in atomic.Pointer[stdinKept]

	mu      sync.Mutex
	next    chan resumed // a ChanResume for the process, or nil if the node lost it
	exited  bool         // the node sent the exit status: nothing to resume
	dropped bool         // the node came back without it
	held    []syscall.Signal
}

type resumed struct {
	ch   ssh.Channel
	reqs <-chan *ssh.Request
}

func (rs *resumeState) nextChan() chan resumed {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.next == nil {
		rs.next = make(chan resumed, 1)
	}
	return rs.next
}

// startOver counts the output streams from 0 again: a moved process's
// start again on its new node, which counts them from there (its resume
// offsets, its acknowledgments); what came from the old node is all
// written out (ended waits for it). Before the new relay tells the ghost.
func (rs *resumeState) startOver() {
	rs.noteMu.Lock()
	defer rs.noteMu.Unlock()
	for i := range rs.out {
		rs.out[i].Store(0)
		// The ghost's word on chunks of the old node's still owed
		// (procs_ghostout.go) brings this to 0.
		rs.wrote[i].Add(-rs.written[i])
	}
	rs.written = [2]int64{}
	rs.movedOn = true
	if k := rs.in.Load(); k != nil { // else nothing to forget
		k.startOver()
	}
}

// kept is the process's stdinKept, made if it has none.
func (rs *resumeState) kept() *stdinKept {
	if k := rs.in.Load(); k != nil {
		return k
	}
	rs.in.CompareAndSwap(nil, &stdinKept{})
	return rs.in.Load()
}

// counted is one output stream from the node: counted, and acknowledged
// to a node that keeps what is not (protocol 2), as it is written out.
type counted struct {
	r      io.Reader
	ch     ssh.Channel
	n      *atomic.Int64
	done   *atomic.Int64 // written out: n, or the ghost's word (rs.wrote)
	stream int           // 1 stdout, 2 stderr
	acks   bool
	acked  int64
}

// ackEvery is how much output an acknowledgment waits for: a sixteenth
// of what the node holds ahead of acks (ackbuf.Bound), so the node
// rarely waits for one; an ack per read halved the throughput.
const ackEvery = 256 << 10

// Read acknowledges what the previous reads gave, which the copy has
// written out since, and reads on.
func (c *counted) Read(b []byte) (int, error) {
	if n := c.done.Load(); c.acks && n-c.acked >= ackEvery {
		c.ch.SendRequest(wire.ReqAck, false, wire.Encode(wire.Ack{Stream: c.stream, Offset: n}))
		c.acked = n
	}
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// countOut is the reader of one output stream of ch (1 stdout, 2
// stderr); viaGhost: the ghost writes it out, and says when.
func (p *proc) countOut(ch ssh.Channel, stream int, viaGhost bool) io.Reader {
	var r io.Reader = ch
	if stream == 2 {
		r = ch.Stderr()
	}
	c := &counted{r: r, ch: ch, n: &p.rs.out[stream-1], stream: stream, acks: p.keeps()}
	c.done, c.acked = c.n, c.n.Load()
	if viaGhost {
		c.done = &p.rs.wrote[stream-1]
	}
	return c
}

// keeps says whether the process's node keeps it through a lost
// connection: what the master must do to take it back.
func (p *proc) keeps() bool {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[p.rank.node]
	return m.cfg.NodeGrace > 0 && n != nil && n.proto >= 2
}

// closeStdin ends the process's stdin on ch: said first to a node that
// would take a bare EOF for a lost connection.
func closeStdin(ch ssh.Channel) {
	ch.SendRequest(wire.ReqStdinEOF, false, nil)
	ch.CloseWrite()
}

// awaitResume waits for the node of a process whose channel ended without
// a status to take it back, for the grace time, and goes on with the
// relay then. false: it will not (protocol 1, no grace, the ghost is gone,
// the node came back without it, or the master stops).
func (p *proc) awaitResume() bool {
	if !p.keeps() {
		return false
	}
	m := p.m
	p.mu.Lock()
	p.ch = nil // signals are held meanwhile (held)
	gone := p.ghostGone
	p.mu.Unlock()
	p.rs.mu.Lock()
	dropped := p.rs.dropped || p.rs.exited
	p.rs.mu.Unlock()
	if gone || dropped {
		return false
	}
	log := m.log.With("node", p.rank.node, "pid", p.pid)
	log.Info("remote process waits for its node to come back", "grace", m.cfg.NodeGrace)
	return p.waitBack(log)
}

// waitBack waits, for the grace time, for the channel that takes p back
// (resume), and relays on it: false if none came.
func (p *proc) waitBack(log *slog.Logger) bool {
	m := p.m
	next := p.rs.nextChan()
	t := time.NewTimer(m.cfg.NodeGrace)
	defer t.Stop()
	var r resumed
	select {
	case r = <-next:
	case <-t.C:
		log.Warn("remote process lost: its node did not come back within the grace time", "grace", m.cfg.NodeGrace)
		return false
	case <-m.routines.stopped:
		// The master stops (an upgrade, a restart): the process is the
		// next master's to take back, from its node and its ghost,
		// which waits for it (procs_restart.go). Told nothing, the
		// ghost outlives this master.
		return true
	}
	if r.ch == nil {
		log.Warn("remote process lost: its node came back without it")
		return false
	}
	p.mu.Lock()
	gone := p.ghostGone
	p.mu.Unlock()
	if gone {
		r.ch.Close()
		return false
	}
	p.rs.mu.Lock()
	held := p.rs.held
	p.rs.held = nil
	p.rs.mu.Unlock()
	p.rs.kept().resuming()
	log.Info("remote process taken back", "stdout_from", p.rs.out[0].Load(), "stderr_from", p.rs.out[1].Load(), "held_signals", len(held))
	p.relay(r.ch, r.reqs, p.rs.outs, false)
	for _, sig := range held {
		p.signal(sig)
	}
	return true
}

// hold keeps a signal for a process whose node is away.
func (p *proc) hold(sig syscall.Signal) {
	p.rs.mu.Lock()
	full := len(p.rs.held) >= maxQueuedSignals
	if !full {
		p.rs.held = append(p.rs.held, sig)
	}
	p.rs.mu.Unlock()
	if full {
		p.droppedSignal(sig)
	}
}

// takeBack answers a node's hello that lists kept processes: those the
// master still has ghosts for are taken back (the returned PIDs, for the
// reply; open then resumes each), the rest of the node's waiting ones are
// lost (the node does not have them). On a node's first hello to this
// master (it restarted), the kept processes it has no ghosts for yet are
// taken back too (unclaimed): their ghosts may still come (procs_restart.go).
//
// keptUIDs are the users of kept's processes (a node from before them
// sends none): a ghost that came back takes back only a process of its
// own user. creds are their credentials in the user database, with which
// their files are served meanwhile (files_kept.go).
func (m *Master) takeBack(n *node, kept []int, keptUIDs []uint32, creds map[uint32]asuser.Cred, log *slog.Logger) (back []*proc, unclaimed []int) {
	owner := func(pid int) (uint32, bool) {
		if i := slices.Index(kept, pid); i >= 0 && len(keptUIDs) == len(kept) {
			return keptUIDs[i], true
		}
		return 0, false
	}
	m.mu.Lock()
	var lost []*proc
	var rehomed []*proc // taken back on another node: their move had finished
	var rehomedOn []ssh.Conn
	if !n.met {
		n.met = true
		for _, pid := range kept {
			uid, known := owner(pid)
			if n.procs[pid] != nil || !known {
				continue
			}
			// A move the old master did not finish (procs_restart_move.go):
			// taken, it is in n.procs now, and taken back below.
			if take, end := m.movedHereLocked(n, pid, uid, log); take != nil || end {
				continue
			}
			if n.unclaimed == nil {
				n.unclaimed = make(map[int]uint32)
			}
			n.unclaimed[pid] = uid
			unclaimed = append(unclaimed, pid)
		}
		n.keptCreds = creds
	}
	for pid, p := range n.procs {
		p.rs.mu.Lock()
		p.mu.Lock()
		ok := slices.Contains(kept, pid) && !p.rs.exited && !p.ghostGone
		p.mu.Unlock()
		if uid, known := owner(pid); ok && p.returned && (!known || uid != p.job.cred.UID) {
			ok = false
			log.Warn("returning ghost refused: not of the user of the process the node kept", "pid", pid, "uid", p.job.cred.UID, "owner_known", known, "owner", uid)
		}
		if !ok && p.returned && !p.rs.exited && !slices.Contains(kept, pid) {
			// Its ghost named this node, but the node it was moving to
			// kept it (procs_restart_move.go).
			if o := m.keptElsewhereLocked(pid, p.job.cred.UID, n); o != nil {
				p.rs.mu.Unlock()
				delete(n.procs, pid)
				delete(o.unclaimed, pid)
				o.procs[pid] = p
				p.first, p.rank.node = o, o.num
				rehomed, rehomedOn = append(rehomed, p), append(rehomedOn, o.conn)
				log.Info("ghost's process taken back on the node it was moving to", "pid", pid, "to", o.num)
				continue
			}
			if m.awaitMoveLocked(n, p) {
				p.rs.mu.Unlock()
				log.Info("ghost's process not on its node: waiting for the nodes not back yet, it may have moved to one", "pid", pid, "wait", m.claimWait())
				continue
			}
		}
		if !ok {
			p.rs.dropped = true
		}
		p.rs.mu.Unlock()
		if ok {
			back = append(back, p)
		} else {
			lost = append(lost, p)
		}
	}
	left := m.awayLeftLocked()
	m.mu.Unlock()
	if len(left) > 0 {
		log.Warn("remote processes lost after the master restarted: their nodes came back without them, and so did every other node", "processes", len(left))
		loseAway(left)
	}
	for i, p := range rehomed {
		m.routines.Go(func() { p.resume(rehomedOn[i]) })
	}
	for _, p := range back {
		if p.returned {
			m.routines.Go(func() { m.endCopies(p.pid, n) })
		}
	}
	tellLost(lost)
	if len(kept) > 0 || len(lost) > 0 {
		log.Info("node back", "kept_by_node", len(kept), "taken_back", len(back), "awaiting_ghosts", len(unclaimed))
	}
	return back, unclaimed
}

// dropKept gives up the processes of node num that wait for it to come
// back: the master knows they are gone (a namespace node's PID 1 ended,
// a node told to reboot, halt or power off), so their ghosts end now
// with "Slave node died" instead of after the grace time.
func (m *Master) dropKept(num int, why string) {
	m.mu.Lock()
	n := m.nodes[num]
	var lost []*proc
	if n != nil {
		for _, p := range n.procs {
			p.rs.mu.Lock()
			if !p.rs.exited {
				p.rs.dropped = true
				lost = append(lost, p)
			}
			p.rs.mu.Unlock()
		}
	}
	m.mu.Unlock()
	tellLost(lost)
	if len(lost) > 0 {
		m.log.Info("remote processes lost with their node", "node", num, "why", why, "processes", len(lost))
	}
}

// tellLost tells the relays of processes marked dropped that no node
// will take them back: one waiting already hears now; one whose old
// channel has not ended yet sees dropped when it does.
func tellLost(lost []*proc) {
	for _, p := range lost {
		select {
		case p.rs.nextChan() <- resumed{}:
		default:
		}
	}
}

// resume opens the channel that takes p back on sc.
func (p *proc) resume(sc ssh.Conn) {
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanResume, wire.Encode(wire.Resume{PID: p.pid, Out: [2]int64{p.rs.out[0].Load(), p.rs.out[1].Load()}}))
	var r resumed
	if err == nil {
		r = resumed{ch, reqs}
	} else {
		p.m.log.Warn("resume remote process", "node", p.rank.node, "pid", p.pid, "err", err)
	}
	select {
	case p.rs.nextChan() <- r:
	default:
		if ch != nil {
			ch.Close()
		}
	}
}

// pids are the processes' ghost PIDs.
func pids(ps []*proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.pid
	}
	return out
}
