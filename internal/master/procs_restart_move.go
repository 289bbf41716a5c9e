package master

import (
	"io"
	"syscall"

	"golang.org/x/crypto/ssh"

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
	ch, reqs, err := sc.OpenChannel(wire.ChanResume, wire.Encode(wire.Resume{PID: pid}))
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
