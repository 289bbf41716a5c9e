package master

import (
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// forkWait bounds how long a fork on a node waits for its ghost: the
// parent's ghost forks it and hands over its connection, a matter of a
// fraction of a millisecond.
// It is the master's ping interval if that is shorter: the fork holds the
// node's request loop, and with it the answer to the node's ping, which
// the node gives up on after two intervals (dropping every process's
// ghost with the connection).
const forkWait = 5 * time.Second

// startArrival bounds how long a fork waits for the node to say the PID
// of a process it has just started (n.starting).
const startArrival = 2 * time.Second

// descendant says what a rank made for a fork on the node has on top of a
// job's: the channel on which run hands over the new ghost's PID, once the
// ghost is in the node's table.
type descendant struct {
	// born is buffered: run never waits; 0 says no ghost comes
	// (procs_space_pair.go). Read by others under m.mu: nil once the
	// fork is over.
	born chan int
	slot *descSlot // its place among its user's descendant ghosts
	// paired is the proc ghostForked made, for fork to register itself
	// (buffered; sent and drained under m.mu; nil once the fork is over).
	paired chan *proc
	// answering says fork registers the ghost on its own goroutine
	// (paired), which answers right after: register then has no one to
	// yield to (set and read on that goroutine only).
	answering bool
}

// fork answers a node's ReqFork: the ghost of the forking process forks a
// child ghost, whose PID goes back to the node for the child. It runs on
// the node's request loop: replies to global requests must go in order,
// and the node sends one fork at a time anyway.
func (m *Master) fork(n *node, r *ssh.Request) error {
	var f wire.Fork
	if err := wire.Decode(r.Type, r.Payload, &f); err != nil {
		return err
	}
	m.mu.Lock()
	parent := n.procByNodePID(f.Parent)
	// A process that has just moved here may fork before its ghost has
	// connected and made it a proc of the node: wait for it, as a move
	// of it does (nodeProc).
	// So may one just started here on another PID than its ghost's,
	// before its channel's ReqStarted has told the master that PID
	// (n.starting: the requests of a channel and of the connection are
	// not ordered).
	began := time.Now()
	arriving := func() bool {
		_, ok := n.moving[f.Parent]
		return ok || n.starting > 0 && time.Since(began) < startArrival
	}
	for deadline := began.Add(ghostArrival); parent == nil && arriving() && time.Now().Before(deadline); {
		m.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		m.mu.Lock()
		parent = n.procByNodePID(f.Parent)
	}
	if parent == nil {
		m.mu.Unlock()
		return fmt.Errorf("node %d: fork of PID %d: no such process of the space", n.num, f.Parent)
	}
	tok, err := ghost.NewToken()
	if err != nil {
		m.mu.Unlock()
		return err
	}
	uid := parent.job.cred.UID
	slot, ok := m.conns.reserve(uid)
	if !ok {
		m.mu.Unlock()
		m.log.Warn("fork on node fails: descendant ghost limit", "node", n.num, "parent", f.Parent,
			"err", fmt.Sprintf("user %d holds %d descendant ghosts already (%d times maxconns)", uid, m.conns.descLimit(), descFactor))
		return r.Reply(false, []byte(wire.ForkLimit))
	}
	d := &descendant{born: make(chan int, 1), slot: slot, paired: make(chan *proc, 1)}
	// The parent's ghost answers with the new ghost's PID and connection
	// (EventForked, procs_space_pair.go); one come back from an older
	// master makes a ghost that says hello with the token instead.
	rk := &rank{job: parent.job, index: parent.rank.index, node: n.num, token: tok, desc: d}
	m.pending[tok] = rk
	m.mu.Unlock()
	parent.mu.Lock()
	parent.forking = rk
	parent.mu.Unlock()
	defer parent.dropForking(rk) // an older ghost's child said hello
	defer func() {
		m.mu.Lock()
		// A descendant's for its life: let the channels go.
		d.paired, d.born = nil, nil
		m.mu.Unlock()
	}()
	drop := func() {
		parent.dropForking(rk)
		m.mu.Lock()
		_, unclaimed := m.pending[tok]
		delete(m.pending, tok)
		var np *proc
		select {
		case np = <-d.paired: // made as the fork gave up
		default:
		}
		m.mu.Unlock()
		if np != nil {
			np.ghost.Close() // its ghost, told nothing, dies
			np.release()
		}
		if unclaimed {
			slot.release() // else the ghost's proc holds it
		}
	}
	if err := ghost.WriteFork(parent.ghost, tok, parent.drains()); err != nil {
		drop()
		return fmt.Errorf("node %d: fork of PID %d: tell its ghost: %w", n.num, f.Parent, err)
	}
	giveUp := time.After(min(forkWait, m.cfg.PingInterval))
	look := time.NewTimer(stoppedLook)
	defer look.Stop()
	continued := false // procs_space_stop.go
	defer func() {
		if continued {
			parent.stopAgain()
		}
	}()
	// The new ghost's relay, once the answer is out: on this goroutine
	// when the node's ChanSpace is open (nothing of it waits then),
	// which saves a goroutine started per fork; else on its own, as
	// opening a channel waits for the node.
	var relay func()
	defer func() {
		if relay != nil {
			relay()
		}
	}()
	for {
		select {
		case np := <-d.paired:
			// On this goroutine, which answers: the proc in the tables
			// and CmdWhere in its ghost's socket, then born, read at
			// once (no turn of the loop, no yield: the node waits for
			// nothing else).
			d.answering = true
			sc, ok := np.register()
			if ok {
				if m.spaceOpen(np.first, sc) {
					relay = func() { np.relayFrom(sc) }
				} else {
					m.routines.serve(np.ghost, func() { np.relayFrom(sc) })
				}
			}
			select {
			case pid := <-d.born:
				return m.forkAnswer(r, pid, drop)
			default: // register refused it and said so: born has 0
			}
		case pid := <-d.born:
			return m.forkAnswer(r, pid, drop)
		case <-look.C:
			continued = continued || parent.continueStopped()
			look.Reset(10 * stoppedLook)
		case <-giveUp:
			drop()
			m.log.Warn("fork on node: its ghost made no child; the fork fails", "node", n.num, "parent", f.Parent, "wait", min(forkWait, m.cfg.PingInterval))
			return r.Reply(false, []byte(wire.ForkNoGhost))
		}
	}
}

// forkAnswer answers the node's ReqFork r with the new ghost's PID, or
// fails it (pid 0: told why by whoever sent it), after drop.
func (m *Master) forkAnswer(r *ssh.Request, pid int, drop func()) error {
	if pid == 0 {
		drop()
		return r.Reply(false, []byte(wire.ForkNoGhost))
	}
	return r.Reply(true, wire.Encode(wire.ForkReply{PID: pid}))
}

// forked answers a node's ReqForked: a descendant runs under another PID
// on the node than its ghost's, and is known by it there from now on
// (its signals and end go by its pidfd on the node, whatever its number).
// The ghost is in the node's table already: the fork's reply waited for
// that (run sends born once it is).
func (m *Master) forked(n *node, r *ssh.Request) error {
	var f wire.Forked
	if err := wire.Decode(r.Type, r.Payload, &f); err != nil {
		return err
	}
	if f.NodePID <= 0 {
		return fmt.Errorf("node %d: ghost %d: bad node PID %d", n.num, f.PID, f.NodePID)
	}
	m.mu.Lock()
	p := n.procs[f.PID]
	m.mu.Unlock()
	if p == nil || p.rank.desc == nil {
		return fmt.Errorf("node %d: ghost %d: no such descendant", n.num, f.PID)
	}
	p.mu.Lock()
	p.nodePID = f.NodePID
	p.mu.Unlock()
	p.send(p.tellWhere) // what the ghost tells a next master
	return r.Reply(true, nil)
}

// ghostParent is the parent of ghost pid here, 0 if it is gone or no
// process (a thread): the kernel's own tree of ghosts mirrors the nodes'
// (a descendant's ghost is its parent's ghost's child, an orphan's is
// reparented as it is). By its pidfd (pidfd.Parent: three cheap calls
// where /proc/PID/stat was a twentieth of the master's CPU per fork,
// which checks its new ghost's parent).
func ghostParent(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	pp, err := pidfd.Parent(fd, pid)
	if err != nil {
		return 0 // reaped since pidfd_open
	}
	return pp
}

// procByNodePID is the process of n whose PID on the node is pid; m.mu
// held.
func (n *node) procByNodePID(pid int) *proc {
	if p := n.procs[pid]; p != nil && p.nodePIDIs(pid) {
		return p
	}
	for _, p := range n.procs {
		if p.nodePIDIs(pid) {
			return p
		}
	}
	return nil
}

func (p *proc) nodePIDIs(pid int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodePID != 0 {
		return p.nodePID == pid
	}
	return p.pid == pid
}

// openAdopt opens the relay of a descendant: the node sends its exit on
// it and takes its signals. It is a relay on the node's one ChanSpace
// (protocol 4, procs_spacechan.go), or a ChanAdopt channel of its own.
func (p *proc) openAdopt(sc ssh.Conn) (ssh.Channel, <-chan *ssh.Request, bool) {
	ch, reqs, space, err := p.m.spaceRelay(p, sc)
	if !space {
		ch, reqs, err = sshconn.OpenChannel(sc, wire.ChanAdopt, wire.Encode(wire.Adopt{PID: p.pid}))
	}
	if err != nil {
		p.finish(wire.ExitStatus{Signal: 9}, false, errNodeDied)
		return nil, nil, false
	}
	return ch, reqs, true
}

// startSent counts p's start on n as sent and not yet answered with the
// node's PID of it (see fork).
func (m *Master) startSent(p *proc, n *node) {
	m.mu.Lock()
	p.startingOn = n
	n.starting++
	m.mu.Unlock()
}

// startHeard ends what startSent began: the node said the PID, or the
// channel failed or ended. Once only.
func (m *Master) startHeard(p *proc) {
	m.mu.Lock()
	if n := p.startingOn; n != nil {
		n.starting--
		p.startingOn = nil
	}
	m.mu.Unlock()
}
