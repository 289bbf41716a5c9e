package master

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// nodeMaster is the master's node number (BPROC_NODE_MASTER).
const nodeMaster = -1

// homeDrain bounds the wait for a process's last output from its node.
const homeDrain = 10 * time.Second

// moveHome moves p, a process of a node, back to the master
// (bproc_move(BPROC_NODE_MASTER)): its node reads it and sends the image
// here, and the master rebuilds it in its ghost (vmadump.RestoreInto),
// which has its PID and is its parent's child: the ghost becomes the
// process, with the ghost's fds 0-2, which are the process's stdio. Its
// node ends the copy there; what the copy wrote before reaches the
// stdio before the process runs on. Until the image has been rebuilt, a
// failure leaves the process on its node, and the reply says why.
func (m *Master) moveHome(c *client, p *proc) error {
	if p == nil {
		return errInvalidProcess
	}
	m.mu.Lock()
	from := m.nodes[c.node]
	var fromConn ssh.Conn
	var why error
	switch {
	case from == nil || from.conn == nil:
		why = errNodeDied
	default:
		if missing := vmadump.MissingCPUFlags(from.hello.CPUFlags, m.cpuFlags, nil); len(missing) > 0 {
			why = cpuRefusal(nodeMaster, missing)
		}
		fromConn = from.conn
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
	defer dch.Close() // without ReqMoved first: the copy on the node goes on
	lr := &io.LimitedReader{R: dch, N: size}
	// Its memory is read from the node as it is written into the
	// ghost: the master holds a few MB of it at a time.
	img, err := vmadump.DecodeStreaming(lr)
	if err != nil {
		return fmt.Errorf("%s: %w", errMoveFail, err)
	}
	read := time.Since(began)

	home := make(chan struct{})
	p.mu.Lock()
	p.home = home
	p.mu.Unlock()
	ret := uint64(localapi.MoveReturn)
	a := vmadump.Attr{Return: &ret, BeforeRun: func() error {
		if lr.N != 0 {
			// More announced than the image holds: not the image the
			// node read. The rebuilt process must not run.
			return fmt.Errorf("image: %d bytes announced and not part of it", lr.N)
		}
		// Rebuilt, not yet running: the copy on the node ends, and
		// its relay with it once its output is all written here.
		dch.SendRequest(wire.ReqMoved, true, nil)
		select {
		case <-home:
		case <-time.After(homeDrain):
			m.log.Warn("move home: the node's relay did not end", "pid", p.pid)
		}
		return nil
	}}
	changed, err := vmadump.RestoreInto(img, p.pid, a)
	if err != nil && !changed {
		p.mu.Lock()
		p.home = nil
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", errMoveFail, err)
	}
	if err != nil {
		// The ghost is gone: the process ends killed, on both sides.
		m.log.Warn("move home: rebuild failed, process killed", "pid", p.pid, "err", err)
		dch.SendRequest(wire.ReqMoved, true, nil)
	}
	<-home // the relay has ended: nothing of the process's is queued
	// Its parent's wait() has the process's own status from now on; the
	// client hears that this rank has nothing more to say.
	p.send(func() {
		p.job.c.send(localapi.Event{Rank: p.rank.index, PID: p.pid, Started: true, Final: true})
		p.end()
	})
	m.mu.Lock()
	m.changedLocked()
	m.mu.Unlock()
	m.obs.moved(moveHome)
	m.log.Info("process moved home", "pid", p.pid, "from", c.node, "bytes", img.Bytes(),
		"read", read.Round(time.Microsecond), "took", time.Since(began).Round(time.Microsecond))
	return errMovedAway
}
