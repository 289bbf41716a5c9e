package master

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A master restarted as a new process (SIGKILL, an upgrade) on the same
// state directory rebuilds its process table from what its nodes and
// ghosts report. A ghost knows where its process runs and how much of its
// output was written to it (ghost.CmdWhere, ghost.CmdOut, told by the
// master as it goes); when its master is gone it waits for the next one
// on the same socket, for the grace time, and tells it that (a resume
// hello) with its fds 0-2 again. A node lists what it kept in its hello
// (NodeHello.Kept). The two halves meet by the ghost's PID, whichever
// comes first: a ghost first waits for its node as a process of a lost
// connection does (waitBack), a node's kept process first waits for its
// ghost (node.unclaimed) for claimWait, then is ended.

// claimWait is how long a process a node kept from a master before this
// one waits for its ghost: a live ghost tries every quarter of a second,
// and gives up after the grace time.
func (m *Master) claimWait() time.Duration {
	return min(30*time.Second, m.cfg.NodeGrace)
}

// sleepClaimWait waits claimWait; false if the master stops meanwhile.
func (m *Master) sleepClaimWait() bool {
	t := time.NewTimer(m.claimWait())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.routines.stopped:
		return false
	}
}

// serveReturning takes back a ghost whose master was another process.
// Its PID and user are the socket's; the node it names must have kept a
// process of that ghost PID (takeBack, or the node's next hello).
func (m *Master) serveReturning(c *net.UnixConn, cred localapi.Cred, first []byte, fds []int, release func()) {
	log := m.log.With("pid", cred.PID)
	// A ghost the master will not take back dies, as one its node lost.
	refuse := func(why string, args ...any) {
		closeAll(fds)
		m.warns.Warn(log, cred.UID, "returning ghost refused: "+why, args...)
		ghost.WriteSignal(c, syscall.SIGKILL)
		c.Close()
		release()
	}
	bad := func(err error) { // not a ghost's hello: hung up on
		closeAll(fds)
		m.warns.Warn(log, cred.UID, "returning ghost hello", "err", err)
		c.Close()
		release()
	}
	// Its version (at 8) says its length: a ghost of an older master's
	// says a shorter one (ghost.ResumeHelloSizeV1).
	hello := make([]byte, ghost.ResumeHelloSize)
	got := copy(hello, first)
	if got < 12 {
		if _, err := io.ReadFull(c, hello[got:12]); err != nil {
			bad(err)
			return
		}
		got = 12
	}
	hello = hello[:ghost.ResumeLen(hello)]
	if _, err := io.ReadFull(c, hello[got:]); err != nil {
		bad(err)
		return
	}
	c.SetReadDeadline(time.Time{})
	r, err := ghost.ParseResume(hello, len(fds))
	if err != nil {
		bad(err)
		return
	}
	// The stdin it kept follows (procs_stdin_ghost.go).
	kept := make([]byte, r.KeptLen)
	c.SetReadDeadline(time.Now().Add(firstFrameTimeout))
	if _, err := io.ReadFull(c, kept); err != nil {
		bad(fmt.Errorf("stdin kept: %w", err))
		return
	}
	c.SetReadDeadline(time.Time{})
	log = log.With("node", r.Node, "node_pid", r.NodePID)
	d := m.returnedDescendant(cred.PID, cred.UID) // procs_restart_desc.go
	if d != nil {
		release() // counted as a descendant, not by maxconns
		release = d.slot.release
	}
	// The job it was part of is the old master's: this one knows the
	// process alone, with no client to tell (bpsh waits on its ghosts).
	jc := localapi.Cred{PID: cred.PID, UID: cred.UID, GID: cred.GID, Groups: cred.Groups}
	j := &job{c: &client{w: io.Discard, cred: jc, node: -1, log: log}, cred: jc, cmd: wire.Command{Argv: cmdline(cred.PID, "?")}}
	p := &proc{m: m, pid: cred.PID, rank: &rank{job: j, node: r.Node, desc: d}, job: j, ghost: c, release: release, nodePID: r.NodePID, returned: true}
	// A ghost of before resume version 2 cannot write output itself.
	p.oldGhost = r.Version < ghost.ResumeVersion
	p.rs.out[0].Store(r.Out[0])
	p.rs.out[1].Store(r.Out[1])
	p.rs.written = r.Out
	k := p.rs.kept()
	k.fileBase, k.haveBase = r.In, r.HaveIn
	k.buf.Reset(r.KeptBase)
	k.buf.Append(kept)
	p.rs.wrote[0].Store(r.Out[0])
	p.rs.wrote[1].Store(r.Out[1])
	p.rs.outs = moved

	m.mu.Lock()
	n := m.nodes[r.Node]
	var owner uint32
	var claimed bool
	if n != nil {
		owner, claimed = n.unclaimed[p.pid]
	}
	if !claimed && (n == nil || n.met) {
		// A move the old master did not finish (procs_restart_move.go).
		if o := m.keptElsewhereLocked(p.pid, cred.UID, n); o != nil {
			log.Info("ghost back after the master restarted: its process is on the node it was moving to", "to", o.num)
			n, owner, claimed = o, cred.UID, true
			p.rank.node = o.num
		}
	}
	var why string
	switch {
	case n == nil:
		why = "no such node"
	case m.procs[p.pid] != nil:
		why = "its PID is a live process's of this master"
	case claimed && owner != cred.UID:
		// Its PID was another ghost's, whose process the node kept.
		why = "not of the user of the process its node kept"
	}
	if why != "" {
		m.mu.Unlock()
		refuse(why, "uid", cred.UID)
		return
	}
	p.first = n
	m.procs[p.pid] = p
	n.procs[p.pid] = p
	j.procs = map[*proc]struct{}{p: {}}
	met, sc := n.met, n.conn
	delete(n.unclaimed, p.pid)
	// Its node came back without it: it may have moved to a node not
	// back yet (procs_restart_move.go).
	away := !claimed && met && m.awaitMoveLocked(n, p)
	m.mu.Unlock()

	if claimed {
		m.endCopies(p.pid, n)
	}
	p.takeFiles(fds, r.FDMask, log)
	m.procStarted(p)
	lost := func(why string) {
		log.Warn("remote process lost after the master restarted: " + why)
		p.send(func() {
			p.finish(wire.ExitStatus{Signal: syscall.SIGKILL}, true, errNodeDied)
			p.end()
		})
	}
	if err := p.watchGhost(); err != nil {
		lost("ghost watch: " + err.Error())
		return
	}
	switch {
	case claimed && sc != nil:
		m.routines.Go(func() { p.resume(sc) })
	case claimed:
		// Its node went down again since: its next hello takes the
		// process back (it is the node's now).
		log.Info("ghost back after the master restarted: waiting for its node", "grace", m.cfg.NodeGrace)
	case away:
		log.Info("ghost back after the master restarted: its node came back without it; waiting for the nodes not back yet, it may have moved to one", "wait", m.claimWait())
	case met:
		lost("its node came back without it")
		return
	default:
		log.Info("ghost back after the master restarted: waiting for its node", "grace", m.cfg.NodeGrace)
	}
	if !p.waitBack(log) {
		lost("its node did not take it back")
		return
	}
	log.Info("remote process recovered after the master restarted", "stdout_from", r.Out[0], "stderr_from", r.Out[1], "stdin_kept", r.KeptLen, "stdin_kept_from", r.KeptBase)
}

// endUnclaimed ends, after claimWait, the processes node n kept from a
// master before this one whose ghosts did not come back: no one waits
// for them. sc is the connection whose hello listed them.
func (m *Master) endUnclaimed(n *node, sc ssh.Conn, log *slog.Logger) {
	if !m.sleepClaimWait() {
		return
	}
	m.mu.Lock()
	var left []int
	for pid := range n.unclaimed {
		left = append(left, pid)
	}
	n.unclaimed, n.keptCreds = nil, nil
	m.mu.Unlock()
	for _, pid := range left {
		log.Warn("remote process lost after the master restarted: no ghost came back for it; ending it", "pid", pid, "waited", m.claimWait())
		endKept(sc, pid)
	}
}

// tellWhere tells the ghost where its process runs, and how long to wait
// for a next master if this one goes: none on a node that does not keep
// its processes, nor on a namespace node this master is stopping
// (endLocalGhosts). Told as the relay starts, and again once the node
// said the process's PID there (for bpstat -p; the ghost's PID is what
// pairs it).
func (p *proc) tellWhere() {
	pid, grace := p.where()
	p.rs.noteMu.Lock()
	defer p.rs.noteMu.Unlock()
	p.tellWhereLocked(pid, grace)
}

// tellWhereLocked is tellWhere under rs.noteMu.
func (p *proc) tellWhereLocked(pid int, grace time.Duration) {
	ghost.WriteWhere(p.ghost, p.rank.node, pid, grace)
	for i, n := range p.rs.written {
		if n > 0 || p.rs.movedOn {
			note := ghost.MarshalOut(i+1, n)
			p.ghost.Write(note[:])
		}
	}
	// Again after an exec, which made the ghost a new program that
	// knows nothing (procs_stdin_file.go).
	if k := p.rs.in.Load(); k != nil && !p.oldGhost { // nil: no stdin kept
		if base, ok := k.fileStart(); ok {
			note := ghost.MarshalOut(0, base)
			p.ghost.Write(note[:])
		}
	}
}

// where is what tellWhere tells: the process's PID on its node, and
// the grace time.
func (p *proc) where() (int, time.Duration) {
	p.mu.Lock()
	pid := p.nodePID
	p.mu.Unlock()
	var grace time.Duration
	if p.keeps() && !(p.m.localEnding.Load() && p.onLocalNode()) {
		grace = p.m.cfg.NodeGrace
	}
	return pid, grace
}

// endLocalGhosts tells the ghosts of the processes on namespace nodes,
// which a stopping master stops (SIGTERM, SIGINT), that no master will
// take them back: they end with it, as their processes do.
func (m *Master) endLocalGhosts() {
	m.localEnding.Store(true)
	m.mu.Lock()
	var ps []*proc
	for _, n := range m.nodes {
		if n.local {
			for _, p := range n.procs {
				ps = append(ps, p)
			}
		}
	}
	m.mu.Unlock()
	for _, p := range ps {
		p.tellWhere()
	}
}

// onLocalNode says whether the process runs on a namespace node of this
// master's.
func (p *proc) onLocalNode() bool {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	n := p.m.nodes[p.rank.node]
	return n != nil && n.local
}

// notedOut writes a stream of the process to the ghost's descriptor and
// tells the ghost each time how much it has written (ghost.CmdOut): what
// a next master goes on from. A note costs the ghost a wake-up per write.
type notedOut struct {
	f      *os.File
	rs     *resumeState
	ghost  ghostConn
	stream int // 1 stdout, 2 stderr
}

func (w *notedOut) Write(b []byte) (int, error) {
	k, err := w.f.Write(b)
	if k > 0 {
		w.rs.noteMu.Lock()
		w.rs.written[w.stream-1] += int64(k)
		note := ghost.MarshalOut(w.stream, w.rs.written[w.stream-1])
		w.ghost.Write(note[:])
		w.rs.noteMu.Unlock()
	}
	return k, err
}

// outTo is where the relay writes output stream (1, 2): the ghost's
// descriptor, with notes when the process outlives this master; nil when
// the ghost handed none.
func (p *proc) outTo(stream int, notes bool) io.Writer {
	f := p.files[stream]
	switch {
	case f == nil:
		return nil
	case !notes:
		return f
	case p.ghostWrites(notes):
		return p.toGhost(stream) // procs_ghostout.go
	}
	// Written so far is what was read so far: the last relay's copies
	// are over.
	p.rs.noteMu.Lock()
	p.rs.written[stream-1] = p.rs.out[stream-1].Load()
	p.rs.noteMu.Unlock()
	return &notedOut{f: f, rs: &p.rs, ghost: p.ghost, stream: stream}
}
