package master

import (
	"sync"

	"github.com/bproc/bproc/internal/shared/ackbuf"
	"github.com/bproc/bproc/internal/shared/ghost"
)

// A node of protocol 3 acknowledges the stdin it has written into the
// process (wire.ReqStdinAck): first on each channel, then every 64 KiB.
// The master keeps what it sent and the node has not acknowledged, up to
// ackbuf.Bound (then it reads no more of the ghost's stdin until an
// acknowledgment comes), so that stdin sent into a connection that turns
// out lost is sent again on the resumed channel, from the node's offset:
// no byte lost or repeated.

// stdinKept is a process's stdin not acknowledged yet, across channels.
type stdinKept struct {
	// keepMu keeps it in the ghost in order (procs_stdin_ghost.go).
	keepMu sync.Mutex
	mu     sync.Mutex
	cond   *sync.Cond
	buf    ackbuf.Buf // from the node's acknowledged offset on
	resume bool       // the next channel is a resume: its copy waits for the node's offset
	first  chan int64
	// fileBase is, for a regular file, its offset where the node's
	// count starts (procs_stdin_file.go); haveBase says it is known.
	fileBase int64
	haveBase bool
	// lastFile is the done of the last channel's copy of a regular
	// file: a resumed one seeks once that has stopped reading.
	lastFile chan struct{}
	// inGhost: the ghost keeps a copy too (procs_stdin_ghost.go), and
	// so bounds what is kept to ghost.KeepMax.
	inGhost bool
}

func (k *stdinKept) condLocked() *sync.Cond {
	if k.cond == nil {
		k.cond = sync.NewCond(&k.mu)
	}
	return k.cond
}

// acksStdin says whether the process's node acknowledges stdin.
func (p *proc) acksStdin() bool {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[p.rank.node]
	return m.cfg.NodeGrace > 0 && n != nil && n.proto >= 3
}

// ackStdin takes the node's acknowledgment: what it covers is let go,
// and a resumed channel's copy learns where to go on from. An offset
// past what this master sent is a node that had more from the master
// before it (restarted): nothing of that is here to send again.
func (k *stdinKept) ack(off int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.first != nil {
		k.first <- off // buffered, one
		k.first = nil
	}
	switch {
	case off >= k.buf.End():
		k.buf.Reset(off)
	case off > k.buf.Base():
		k.buf.DropTo(off)
	default:
		return
	}
	k.condLocked().Broadcast()
}

// keep holds b, sent now, until it is acknowledged, and returns the
// node's offset of it.
func (k *stdinKept) keep(b []byte) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	off := k.buf.End()
	k.buf.Append(b)
	return off
}

// since is a copy of what was sent from off on (from the oldest byte
// kept if off is before it).
func (k *stdinKept) since(off int64) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	off = max(off, k.buf.Base())
	if off >= k.buf.End() {
		return nil
	}
	return k.buf.CopyFrom(off)
}

// startOver forgets what the old node had not acknowledged: a moved
// process's stdin starts again on its new node (see stdinCopy.done).
func (k *stdinKept) startOver() {
	k.mu.Lock()
	k.first = nil
	k.haveBase = false // the next node's copy notes its own
	k.buf.Reset(0)
	k.condLocked().Broadcast()
	k.mu.Unlock()
}

// resuming says the next channel is a resume.
func (k *stdinKept) resuming() {
	k.mu.Lock()
	k.resume = true
	k.mu.Unlock()
}

// firstAck is, on a resume, where the node's first acknowledgment will
// be said; nil when the channel is not a resume.
func (k *stdinKept) firstAck() chan int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.resume {
		return nil
	}
	k.resume = false
	k.first = make(chan int64, 1)
	return k.first
}

// bound is how much unacknowledged stdin is kept at most; under mu.
func (k *stdinKept) bound() int {
	if k.inGhost {
		return ghost.KeepMax
	}
	return ackbuf.Bound
}

// waitRoom waits until fewer than bound() bytes wait for an
// acknowledgment, or the copy stops: false then.
func (in *stdinCopy) waitRoom() bool {
	k := in.p.rs.kept()
	k.mu.Lock()
	defer k.mu.Unlock()
	for k.buf.Len() >= k.bound() && !in.isStopped() {
		k.condLocked().Wait()
	}
	return !in.isStopped()
}

func (in *stdinCopy) isStopped() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopped
}

// wake wakes a copy that waits for room, to see it is stopped.
func (k *stdinKept) wake() {
	k.mu.Lock()
	k.condLocked().Broadcast()
	k.mu.Unlock()
}

// resend sends again, on a resumed channel, what the node had not
// written into the process when the connection was lost, from the offset
// the node says first; then the copy starts. Until then the ghost's
// stdin is not read, so the order holds.
//
// A regular file is sought to the node's offset instead, once the last
// channel's copy of it (last) has stopped reading.
func (in *stdinCopy) resend(first chan int64, last chan struct{}) {
	var off int64
	select {
	case off = <-first:
	case <-in.quit:
		in.mu.Lock()
		if !in.draining {
			in.end()
		}
		in.mu.Unlock()
		return
	}
	if in.file {
		if last != nil {
			select {
			case <-last:
			case <-in.quit:
			}
		}
		in.fileResume(off) // the file holds what was sent
	}
	if b := in.p.rs.kept().since(off); len(b) > 0 {
		in.p.m.log.Info("stdin sent again after a resume", "node", in.p.rank.node, "pid", in.p.pid, "from", off, "bytes", len(b))
		if _, err := in.ch.Write(b); err != nil {
			in.stop()
			in.mu.Lock()
			in.end() // nothing else will: no drain ran, a file copy did not start
			in.mu.Unlock()
			return
		}
	}
	in.start()
}
