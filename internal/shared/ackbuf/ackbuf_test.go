package ackbuf

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestStream streams bytes through a Buf as the node's link does:
// appends of any size, views written out, acknowledgments of part of
// what was written (also of a view still being written, whose chunk must
// not be refilled meanwhile), and checks every byte comes out once, in
// order, and that a quiet stream holds no chunk.
func TestStream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const maxWrite = 128 << 10
	var b Buf
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
			b.Append(p)
		case 1: // drain: a view, an ack landing while it is written
			if sent >= b.End() {
				continue
			}
			v := b.View(sent, maxWrite)
			if len(v) == 0 {
				t.Fatalf("round %d: empty view at %d of %d-%d", round, sent, b.Base(), b.End())
			}
			was := append([]byte(nil), v...)
			ack := b.Base() + r.Int64N(sent+int64(len(v))-b.Base()+1)
			if r.IntN(2) == 0 {
				ack = sent + int64(len(v)) // all of the view: maybe its whole chunk
			}
			if ack > b.Base() {
				b.DropTo(ack)
			}
			more := bytes.Repeat([]byte{0xee}, r.IntN(2*chunkSize)) // must not land in v
			b.Append(more)
			in = append(in, more...)
			if !bytes.Equal(v, was) {
				t.Fatalf("round %d: a view's bytes changed under it", round)
			}
			b.Release()
			out = append(out, v...)
			sent += int64(len(v))
		case 2: // an ack of what was written
			if sent > b.Base() {
				b.DropTo(b.Base() + r.Int64N(sent-b.Base()) + 1)
			}
		}
		if b.End()-b.Base() != int64(b.Len()) {
			t.Fatalf("round %d: held %d, from %d to %d", round, b.Len(), b.Base(), b.End())
		}
		checkBounds(t, &b)
	}
	for sent < b.End() {
		v := b.View(sent, maxWrite)
		out = append(out, v...)
		b.Release()
		sent += int64(len(v))
	}
	b.DropTo(b.End())
	if b.Len() != 0 || b.chunks != nil || b.free != nil {
		t.Errorf("quiet stream holds %d bytes, %d chunks, %d free", b.Len(), len(b.chunks), len(b.free))
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("%d bytes out, %d in: not the same", len(out), len(in))
	}
}

// TestCopyFrom: what is held across chunks reads back as appended, from
// any offset, after drops within and across chunks, as the master's
// stdin sends it again on a resumed channel.
func TestCopyFrom(t *testing.T) {
	var b Buf
	var ref []byte
	for i := range 300 {
		p := make([]byte, 1+i*7%4000)
		for j := range p {
			p[j] = byte(i + j)
		}
		b.Append(p)
		ref = append(ref, p...)
		if i%7 == 3 {
			k := len(ref) / 3
			b.DropTo(b.Base() + int64(k))
			ref = ref[k:]
		}
		if b.Len() != len(ref) {
			t.Fatalf("step %d: holds %d, want %d", i, b.Len(), len(ref))
		}
		for _, k := range []int{0, len(ref) / 2, len(ref)} {
			if got := b.CopyFrom(b.Base() + int64(k)); string(got) != string(ref[k:]) {
				t.Fatalf("step %d: CopyFrom(base+%d) differs (%d bytes, want %d)", i, k, len(got), len(ref)-k)
			}
		}
	}
	b.DropTo(b.End())
	if b.Len() != 0 || len(b.chunks) != 0 {
		t.Errorf("all dropped: %d bytes in %d chunks", b.Len(), len(b.chunks))
	}
}

// TestReset: an acknowledgment past what was sent (a node that had more
// from a master before this one) or a move starts the stream again at a
// new offset, holding nothing, and it goes on from there.
func TestReset(t *testing.T) {
	var b Buf
	b.Append([]byte("0123456789"))
	b.DropTo(4)
	b.Reset(25)
	if b.Base() != 25 || b.End() != 25 || b.chunks != nil || b.free != nil {
		t.Fatalf("reset to 25: base %d end %d, %d chunks %d free", b.Base(), b.End(), len(b.chunks), len(b.free))
	}
	b.Append([]byte("ab"))
	if got := string(b.CopyFrom(25)); b.End() != 27 || got != "ab" {
		t.Errorf("after reset: end %d holds %q, want 27 %q", b.End(), got, "ab")
	}
}

// checkBounds: a Buf holds no more chunks than its bytes need, and at
// most maxFree emptied ones.
func checkBounds(t *testing.T, b *Buf) {
	t.Helper()
	// +1: a partly acknowledged first chunk, +1: a partly filled last one.
	if need := b.n/chunkSize + 2; len(b.chunks) > need || len(b.free) > maxFree {
		t.Fatalf("holds %d bytes in %d chunks (at most %d) and %d free (at most %d)", b.n, len(b.chunks), need, len(b.free), maxFree)
	}
}
