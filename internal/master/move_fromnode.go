package master

import (
	"errors"
	"io"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// errMovedAway ends a node process's move request with no answer: the
// process that asked is gone from its node, and its copy runs on another.
var errMovedAway = errors.New("moved")

var errInvalidProcess = localapi.ErrInvalidProcess

// moveFromNode moves a process of a node (one bproc started there, asking
// through its node's ChanAPI) to another node: its node reads it and sends
// the image here, the other node rebuilds it with the same PID, and its
// ghost here goes on with the new node. Its old node ends the original.
func (m *Master) moveFromNode(c *client, node *int) error {
	if node == nil {
		return errors.New("move: no node")
	}
	num := *node
	p := m.nodeProc(c.node, c.cred.PID, c.cred.UID)
	if num == nodeMaster {
		return m.moveHome(c, p)
	}
	m.mu.Lock()
	from, to := m.nodes[c.node], m.nodes[num]
	var why error
	switch {
	case num == c.node:
		why = errSameNode
	case to == nil:
		why = errInvalidNode
	case p == nil:
		why = errInvalidProcess
	default:
		why = to.accessError(p.job.cred)
	}
	var fromConn, toConn ssh.Conn
	if why == nil {
		// Every earlier move of it was checked: the CPU it is on has
		// what it may use, or more.
		if missing := vmadump.MissingCPUFlags(from.hello.CPUFlags, to.hello.CPUFlags, nil); len(missing) > 0 {
			why = cpuRefusal(num, missing)
		}
	}
	if why == nil {
		fromConn, toConn = from.conn, to.conn
		if fromConn == nil {
			why = errNodeDied
		}
	}
	m.mu.Unlock()
	if why != nil {
		return why
	}

	began := time.Now()
	dch, size, err := m.openDump(fromConn, c)
	if err != nil {
		return err
	}
	defer dch.Close() // without ReqMoved first: the original goes on

	cred := p.job.cred
	m.mu.Lock()
	if to.moving == nil {
		to.moving = make(map[int]localapi.Cred)
	}
	to.moving[p.pid] = cred
	m.mu.Unlock()
	mv := wire.Move{ImageSize: size, Return: localapi.MoveReturn}
	pre, err := m.sendImage(toConn, num, c.cred.PID, cred, p.job.cmd.Path, p.job.cmd.Argv, p.job.cmd.Dir, mv, nil,
		func(w io.Writer) error {
			_, err := io.CopyN(w, dch, size)
			return err
		})
	if err != nil {
		m.mu.Lock()
		delete(to.moving, p.pid)
		m.mu.Unlock()
		return err
	}

	// The ghost goes on with the new node: its relay ends on the old
	// channel, whose node kills its copy, and picks up the new one.
	m.mu.Lock()
	delete(from.procs, p.pid)
	delete(to.moving, p.pid)
	to.procs[p.pid] = p
	p.rank.node = num
	m.changedLocked()
	m.mu.Unlock()
	p.mu.Lock()
	old := p.ch
	p.next = pre
	p.mu.Unlock()
	old.Close()
	dch.SendRequest(wire.ReqMoved, true, nil)
	m.obs.moved(moveBetween)
	m.log.Info("process moved between nodes", "pid", p.pid, "from", c.node, "to", num, "took", time.Since(began).Round(time.Microsecond))
	return errMovedAway
}

// nodeProc is the process of node num whose PID there is pid, of uid; nil
// when there is none. One that has just moved there runs before its ghost
// has connected (the move's reply is what lets the ghost start): it is
// waited for, so that a process may move on as soon as it has arrived.
func (m *Master) nodeProc(num, pid int, uid uint32) *proc {
	deadline := time.Now().Add(ghostArrival)
	for {
		m.mu.Lock()
		n := m.nodes[num]
		var p *proc
		arriving := false
		if n != nil {
			for _, q := range n.procs {
				q.mu.Lock()
				np := q.nodePID
				q.mu.Unlock()
				if np == pid && q.job.cred.UID == uid {
					p = q
					break
				}
			}
			cred, ok := n.moving[pid]
			arriving = ok && cred.UID == uid
		}
		m.mu.Unlock()
		if p != nil || !arriving || time.Now().After(deadline) {
			return p
		}
		time.Sleep(2 * time.Millisecond)
	}
}
