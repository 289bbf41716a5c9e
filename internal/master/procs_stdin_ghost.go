package master

import (
	"net"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// Stdin read from the ghost's fd 0 is gone from there: the master keeps
// what its node has not acknowledged (procs_stdin_ack.go), and a master
// killed took its copy with it. So the ghost keeps one too (ghost.CmdKeep,
// stub.c's keep), sent before the bytes go to the node, and lets it go as
// the node's acknowledgments come (ghost.OutInAck); a ghost whose master
// is gone gives it to the next one after its resume hello, which sends
// the node what it has not written (from its first acknowledgment, as on
// any resumed channel). The master then holds no more unacknowledged
// than the ghost can keep (ghost.KeepMax). A regular file needs none of
// it (procs_stdin_file.go), nor a ghost of an older master's.

// keep holds b until the node acknowledges it, here and, if it keeps
// stdin, in the ghost, in the order read (keepMu).
func (in *stdinCopy) keep(b []byte) {
	p := in.p
	k := p.rs.kept()
	k.keepMu.Lock()
	defer k.keepMu.Unlock()
	off := k.keep(b)
	k.mu.Lock()
	inGhost := k.inGhost
	k.mu.Unlock()
	if inGhost {
		keepInGhost(p.ghost, off, b)
	}
}

// keepInGhost sends the ghost b, at the node's offset off, to keep.
func keepInGhost(c ghostConn, off int64, b []byte) {
	for len(b) > 0 {
		k := min(len(b), ghost.KeepMax)
		head, err := ghost.MarshalKeep(off, k)
		if err != nil {
			return
		}
		bufs := net.Buffers{head[:], b[:k]}
		if err := writeBufs(c, bufs); err != nil {
			return // the ghost is gone
		}
		off += int64(k)
		b = b[k:]
	}
}

// ghostInAck tells a ghost that keeps stdin the node's count of it, after
// what is queued: it must not block the request watch.
func (p *proc) ghostInAck(off int64) {
	k := p.rs.in.Load()
	if k == nil {
		return // nothing kept: no stdin
	}
	k.mu.Lock()
	inGhost := k.inGhost
	k.mu.Unlock()
	if !inGhost {
		return
	}
	p.send(func() {
		note := ghost.MarshalOut(ghost.OutInAck, off)
		p.ghost.Write(note[:])
	})
}

// keepAgain gives a ghost that exec'd again (and so lost what it kept)
// the stdin not acknowledged yet; under noteMu, before anything else.
func (p *proc) keepAgain() {
	k := p.rs.in.Load()
	if k == nil {
		return // no stdin: nothing kept
	}
	k.keepMu.Lock()
	defer k.keepMu.Unlock()
	k.mu.Lock()
	inGhost, base := k.inGhost, k.buf.Base()
	k.mu.Unlock()
	if inGhost {
		keepInGhost(p.ghost, base, k.since(base))
	}
}
