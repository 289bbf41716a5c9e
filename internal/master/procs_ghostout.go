package master

import (
	"net"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// The output of a process that outlives its master goes through its
// ghost, which writes it to its own fd 1 or 2 and counts it
// (ghost.CmdData, stub.c's data): a write and its count are then one
// thing, done by the one process that outlives the master, so a master
// killed at any point neither loses nor repeats a byte. The master
// acknowledges output to the node only once the ghost said it wrote it
// (ghost.EventWrote, rs.wrote), so the node still holds whatever a
// killed master had sent on but the ghost had not written. The earlier
// way (the master wrote, then told the ghost the count, ghost.CmdOut)
// repeated the last write of a master killed between the two; it is
// kept for a ghost of an older master's (oldGhost), which knows no
// CmdData.

// ghostOut writes one output stream of the process through its ghost.
type ghostOut struct {
	rs     *resumeState
	ghost  ghostConn
	stream int // 1 stdout, 2 stderr
	dead   bool
}

// Write sends b to the ghost in chunks of at most ghost.DataMax. A ghost
// gone takes the rest as written: its hang-up ends the process and the
// relay (onGhost), and the copy must drain meanwhile.
func (w *ghostOut) Write(b []byte) (int, error) {
	for off := 0; off < len(b) && !w.dead; {
		k := min(len(b)-off, ghost.DataMax)
		head, err := ghost.MarshalData(w.stream, k)
		if err != nil {
			return off, err // cannot happen: 0 < k <= DataMax
		}
		bufs := net.Buffers{head[:], b[off : off+k]}
		// Under noteMu: the ghost hears counts (tellWhere) in order
		// with the data they count.
		w.rs.noteMu.Lock()
		err = writeBufs(w.ghost, bufs)
		w.rs.written[w.stream-1] += int64(k)
		w.rs.noteMu.Unlock()
		w.dead = err != nil
		off += k
	}
	return len(b), nil
}

// ghostWrites says whether the process's output goes through its ghost:
// when it outlives this master (notes) and its ghost can.
func (p *proc) ghostWrites(notes bool) bool {
	return notes && !p.oldGhost
}

// toGhost is outTo for a process whose ghost writes its output: the
// ghost counts on from what this relay's node sends first (its offset),
// told before this relay's first chunk and after the last relay's when
// that is not what the ghost counts already (after a move): not at a
// launch, where it would cost a write and a wake-up per process.
func (p *proc) toGhost(stream int) *ghostOut {
	rs := &p.rs
	rs.noteMu.Lock()
	defer rs.noteMu.Unlock()
	from := rs.out[stream-1].Load()
	if from != rs.written[stream-1] || rs.movedOn {
		// What the ghost has not said it wrote of the last relay's
		// stays owed: it is said later, in the new count.
		rs.wrote[stream-1].Add(from - rs.written[stream-1])
		rs.written[stream-1] = from
		note := ghost.MarshalOut(stream, from)
		p.ghost.Write(note[:])
	}
	return &ghostOut{rs: rs, ghost: p.ghost, stream: stream}
}

// ghostWrote takes the ghost's word that it is done with a chunk.
func (p *proc) ghostWrote(arg uint32) {
	if stream, n, ok := ghost.ParseWrote(arg); ok {
		p.rs.wrote[stream-1].Add(int64(n))
	}
}
