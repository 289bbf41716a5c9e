package node

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// keeper holds the relays (links) of the node's processes by their
// ghosts' PIDs, so that a lost master does not end them: they wait
// detached for the grace time the master last said (HelloReply.Grace),
// the next hello lists them (NodeHello.Kept), and the master takes back
// those it still has ghosts for (HelloReply.Resume, then a ChanResume
// each). What is not taken back in time is ended, as protocol 1 ends
// everything at once.
type keeper struct {
	mu    sync.Mutex
	links map[int]*link
	grace time.Duration // the master's; 0: processes end with the connection
	// stdinAcks: the master speaks protocol 3, and keeps the stdin not
	// acknowledged (wire.ReqStdinAck) to send again after a resume.
	stdinAcks bool
	lost      chan struct{} // the current connection's, closed when it ends
}

// add registers the relay of a process just started on the current
// connection, and returns it and that connection's lost channel. sig is
// link.sig: nil for a process bpslave started.
func (k *keeper) add(s *Slave, ghost, pid int, uid uint32, st *stdio, sig func(syscall.Signal)) (*link, <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := &link{s: s, ghost: ghost, pid: pid, uid: uid, st: st, keep: k.grace > 0, sig: sig}
	if k.links == nil {
		k.links = make(map[int]*link)
	}
	if old := k.links[ghost]; old != nil {
		old.giveUp() // a PID the master reuses: the old one's ghost is gone
	}
	k.links[ghost] = l
	lost := k.lost
	if lost == nil {
		lost = make(chan struct{})
	}
	return l, lost
}

// remove forgets l once its relay is over.
func (k *keeper) remove(l *link) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.links[l.ghost] == l {
		delete(k.links, l.ghost)
	}
}

// session is a new connection's: lost is closed when it ends.
func (k *keeper) session(lost chan struct{}) {
	k.mu.Lock()
	k.lost = lost
	k.mu.Unlock()
}

// detached says whether l waits for a resume: its connection is lost.
func detached(l *link) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.over {
		return false
	}
	if l.ch == nil {
		return true
	}
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

// kept are the ghost PIDs of the processes waiting for a master, and
// their users, in that order.
func (k *keeper) kept() ([]int, []uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []int
	for pid, l := range k.links {
		if detached(l) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	uids := make([]uint32, len(out))
	for i, pid := range out {
		uids[i] = k.links[pid].uid
	}
	return out, uids
}

// helloed takes the master's answer: how long to keep processes from now
// on, and which of the kept ones it takes back. The others are ended:
// their ghosts are gone.
func (k *keeper) helloed(s *Slave, grace time.Duration, stdinAcks bool, resume []int) {
	k.mu.Lock()
	k.grace, k.stdinAcks = grace, stdinAcks && grace > 0
	var drop []*link
	for pid, l := range k.links {
		if detached(l) && !slices.Contains(resume, pid) {
			drop = append(drop, l)
		}
	}
	k.mu.Unlock()
	for _, l := range drop {
		s.log.Warn("kept process not taken back by the master: its ghost is gone; ending it", "pid", l.ghost, "node_pid", l.pid)
		l.giveUp()
	}
	if len(resume) > 0 {
		s.log.Info("master takes back kept processes", "count", len(resume))
	}
}

// keepThroughLoss is called when the connection to the master is lost:
// with a grace time and processes to keep, they wait for a master until
// it has passed (expire) and the node reports true; else the caller ends
// everything, as protocol 1 did.
func (k *keeper) keepThroughLoss(s *Slave) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	live := 0
	for _, l := range k.links {
		l.mu.Lock()
		if !l.over {
			live++
		}
		l.mu.Unlock()
	}
	if k.grace <= 0 || live == 0 {
		return false
	}
	grace := k.grace
	s.log.Warn("master lost: keeping its processes for the grace time", "processes", live, "grace", grace)
	time.AfterFunc(grace, func() { k.expire(s, grace) })
	return true
}

// expire ends the processes that have waited for a master for the grace
// time; when no master is back and none is left, whatever remote processes
// left on the node ends too (killAll).
func (k *keeper) expire(s *Slave, grace time.Duration) {
	k.mu.Lock()
	var drop []*link
	live := 0
	for _, l := range k.links {
		l.mu.Lock()
		switch {
		case l.over:
		case l.ch == nil && time.Since(l.lostAt) >= grace-10*time.Millisecond:
			drop = append(drop, l)
		default:
			live++
		}
		l.mu.Unlock()
	}
	k.mu.Unlock()
	for _, l := range drop {
		s.log.Warn("grace time over without the master: ending the process", "pid", l.ghost, "node_pid", l.pid, "grace", grace)
		l.giveUp()
		if l.sig == nil {
			unix.Kill(-l.pid, unix.SIGKILL) // its group, which it leads (setsid)
		}
	}
	s.mu.Lock()
	connected := s.conn != nil
	s.mu.Unlock()
	if !connected && live == 0 {
		s.killAll()
		if s.view != nil {
			s.view.masterLost()
		}
	}
}

// resume attaches a new channel to a kept process (wire.ChanResume).
func (s *Slave) resume(nc ssh.NewChannel, lost <-chan struct{}) {
	var r wire.Resume
	if err := wire.Decode(wire.ChanResume, nc.ExtraData(), &r); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	k := &s.keeper
	k.mu.Lock()
	l := k.links[r.PID]
	k.mu.Unlock()
	if l == nil || !detached(l) {
		nc.Reject(wire.RejectOther, fmt.Sprintf("resume: no process of ghost %d waits here", r.PID))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	s.log.Info("process taken back by the master", "pid", r.PID, "node_pid", l.pid, "stdout_from", r.Out[0], "stderr_from", r.Out[1])
	l.attach(ch, reqs, lost, r.Out)
}

// acksStdin says whether a channel attached now acknowledges stdin.
func (k *keeper) acksStdin() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stdinAcks
}
