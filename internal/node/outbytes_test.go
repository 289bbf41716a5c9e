package node

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestOutBytes streams bytes through an outBytes as the link does:
// appends of any size, views written out, acknowledgments of part of
// what was written (also of a view still being written, whose chunk must
// not be refilled meanwhile), and checks every byte comes out once, in
// order, and that a quiet stream holds no chunk.
func TestOutBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b outBytes
	var in, out []byte
	var sent int64
	next := byte(0)
	for round := 0; round < 3000; round++ {
		switch r.IntN(3) {
		case 0: // the pipe's copy
			p := make([]byte, r.IntN(3*chunkSize))
			for i := range p {
				p[i] = next
				next++
			}
			in = append(in, p...)
			b.append(p)
		case 1: // drain: a view, an ack landing while it is written
			if sent >= b.end() {
				continue
			}
			v := b.view(sent, maxWrite)
			if len(v) == 0 {
				t.Fatalf("round %d: empty view at %d of %d-%d", round, sent, b.base, b.end())
			}
			was := append([]byte(nil), v...)
			ack := b.base + r.Int64N(sent+int64(len(v))-b.base+1)
			if r.IntN(2) == 0 {
				ack = sent + int64(len(v)) // all of the view: maybe its whole chunk
			}
			if ack > b.base {
				b.dropTo(ack)
			}
			more := bytes.Repeat([]byte{0xee}, r.IntN(2*chunkSize)) // must not land in v
			b.append(more)
			in = append(in, more...)
			if !bytes.Equal(v, was) {
				t.Fatalf("round %d: a view's bytes changed under it", round)
			}
			b.release()
			out = append(out, v...)
			sent += int64(len(v))
		case 2: // an ack of what was written
			if sent > b.base {
				b.dropTo(b.base + r.Int64N(sent-b.base) + 1)
			}
		}
		if b.end()-b.base != int64(b.len()) {
			t.Fatalf("round %d: held %d, from %d to %d", round, b.len(), b.base, b.end())
		}
	}
	for sent < b.end() {
		v := b.view(sent, maxWrite)
		out = append(out, v...)
		b.release()
		sent += int64(len(v))
	}
	b.dropTo(b.end())
	if b.len() != 0 || b.chunks != nil || b.free != nil {
		t.Errorf("quiet stream holds %d bytes, %d chunks, %d free", b.len(), len(b.chunks), len(b.free))
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("%d bytes out, %d in: not the same", len(out), len(in))
	}
}
