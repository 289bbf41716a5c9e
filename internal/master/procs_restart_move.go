package master

import (
	"io"
	"log/slog"
	"syscall"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A move between nodes that a master's end cut short (moveFromNode) can
// leave its process kept by two nodes, or by the other node than the one
// its ghost names: the new node had rebuilt it, and the old one either
// kept its original (the master never said ReqMoved: both copies run) or
// had ended it (the ghost had not heard of the new node yet). The next
// master takes back one copy for the ghost: the one on the node its
// ghost names if that node kept it (the move did not finish; the copy
// on the new node is ended at once, not after claimWait), else the one
// another node kept for the same ghost PID and user (the move finished).
//
// The nodes come back in any order. A node that comes back without the
// process its ghost names it for may be the old node of a finished move
// whose new node is not back yet: the process waits (awaitMoveLocked)
// until that node's first hello takes it (movedHereLocked), or every
// node has said one, or claimWait has passed. A new node that comes back
// with a copy after the old node took the original back ends the copy
// at once (its hello's reply does not name it).

// keptElsewhereLocked is a node other than not that kept a process of
// ghost pid and user uid from a master before this one, waiting for its
// ghost, and is connected; nil if none. Under m.mu.
func (m *Master) keptElsewhereLocked(pid int, uid uint32, not *node) *node {
	for _, o := range m.nodes {
		if o == not || o.conn == nil {
			continue
		}
		if owner, ok := o.unclaimed[pid]; ok && owner == uid {
			return o
		}
	}
	return nil
}

// endCopies ends the copies of ghost pid's process that nodes other than
// keep kept from a master before this one: keep's is taken back.
func (m *Master) endCopies(pid int, keep *node) {
	type copyOn struct {
		num int
		sc  ssh.Conn
	}
	var ends []copyOn
	m.mu.Lock()
	for _, o := range m.nodes {
		if o == keep || o.conn == nil {
			continue
		}
		if _, ok := o.unclaimed[pid]; ok {
			delete(o.unclaimed, pid)
			ends = append(ends, copyOn{o.num, o.conn})
		}
	}
	m.mu.Unlock()
	for _, c := range ends {
		m.log.Warn("second copy of a process whose move the old master did not finish: ending it", "pid", pid, "node", c.num, "kept_on", keep.num)
		endKept(c.sc, pid)
	}
}

// endKept ends a process a node kept, by a resume channel that the master
// closes after a SIGKILL.
func endKept(sc ssh.Conn, pid int) {
	ch, reqs, err := sshconn.OpenChannel(sc, wire.ChanResume, wire.Encode(wire.Resume{PID: pid}))
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	go io.Copy(io.Discard, ch)
	go io.Copy(io.Discard, ch.Stderr())
	// A channel the master closes ends the process: killed first.
	ch.SendRequest(wire.ReqSignal, true, wire.MarshalSignal(syscall.SIGKILL))
	ch.Close()
}

// awaitMoveLocked makes p, whose ghost came back and whose node n came
// back without it, wait for the nodes that have not said hello to this
// master yet: it may have moved to one of them. false if none is left
// (p is lost). The wait ends after claimWait. Under m.mu.
func (m *Master) awaitMoveLocked(n *node, p *proc) bool {
	if !p.returned || !m.unmetLocked(n) {
		return false
	}
	if m.away[p.pid] == p {
		return true
	}
	if m.away == nil {
		m.away = make(map[int]*proc)
	}
	m.away[p.pid] = p
	m.routines.Go(func() {
		if !m.sleepClaimWait() {
			return
		}
		m.mu.Lock()
		if m.away[p.pid] != p {
			m.mu.Unlock()
			return
		}
		delete(m.away, p.pid)
		m.mu.Unlock()
		m.log.Warn("remote process lost after the master restarted: its node came back without it, and no other node had it", "pid", p.pid, "node", n.num, "waited", m.claimWait())
		loseAway([]*proc{p})
	})
	return true
}

// unmetLocked says whether a node other than n has not said hello to
// this master yet. Under m.mu.
func (m *Master) unmetLocked(n *node) bool {
	for _, o := range m.nodes {
		if o != n && !o.met {
			return true
		}
	}
	return false
}

// movedHereLocked sorts out a process that node n kept from a master
// before this one, at n's first hello, against a ghost that came back for
// it (pid, user uid) and was taken by another node: take, a process whose
// node came back without it (the move had finished), is n's now; end:
// its node had kept it (the move had not finished), so n's copy is not
// taken back. Neither: the copy waits for its ghost (unclaimed). Under
// m.mu.
func (m *Master) movedHereLocked(n *node, pid int, uid uint32, log *slog.Logger) (take *proc, end bool) {
	p := m.procs[pid]
	if p == nil || !p.returned || p.job.cred.UID != uid || p.first == n {
		return nil, false
	}
	p.rs.mu.Lock()
	gone := p.rs.dropped || p.rs.exited
	p.rs.mu.Unlock()
	if m.away[pid] == p {
		delete(m.away, pid)
		if gone { // given up meanwhile (its node's namespace ended)
			return nil, false
		}
		if o := m.nodes[p.rank.node]; o != nil {
			delete(o.procs, pid)
		}
		n.procs[pid] = p
		p.first, p.rank.node = n, n.num
		log.Info("ghost's process taken back on the node it was moving to", "pid", pid, "to", n.num)
		return p, false
	}
	o := m.nodes[p.rank.node]
	if o == nil || !o.met || o.procs[pid] != p || gone {
		return nil, false
	}
	log.Warn("second copy of a process whose move the old master did not finish: ending it", "pid", pid, "kept_on", o.num)
	return nil, true
}

// awayLeftLocked are the processes waiting for a node they may have
// moved to once every node has said hello to this master: none has them.
// Under m.mu.
func (m *Master) awayLeftLocked() []*proc {
	if len(m.away) == 0 || m.unmetLocked(nil) {
		return nil
	}
	var lost []*proc
	for pid, p := range m.away {
		delete(m.away, pid)
		lost = append(lost, p)
	}
	return lost
}

// loseAway tells the relays of processes that waited for a node they may
// have moved to that none has them.
func loseAway(lost []*proc) {
	for _, p := range lost {
		p.rs.mu.Lock()
		p.rs.dropped = true
		p.rs.mu.Unlock()
	}
	tellLost(lost)
}
