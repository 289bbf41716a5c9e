package ackbuf

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzBuf runs the operations its input spells (3 bytes each: the
// operation in the low 6 bits and a shift of the size in the high 2,
// then a uint16 size) against a plain slice, and holds the two equal:
// what CopyFrom and View read, what a view keeps while the stream goes
// on, and the bounds on chunks.
func FuzzBuf(f *testing.F) {
	f.Add([]byte{0, 0xff, 0xff, 0, 0xff, 0xff, 2, 0, 0, 1, 0x10, 0})
	f.Add([]byte{0, 0, 0x80, 3, 0, 0x40, 0, 0xff, 0x7f, 1, 0xff, 0xff, 4, 0, 0})
	f.Add(bytes.Repeat([]byte{0, 0x01, 0x01, 3, 0x01, 0x01}, 20))
	// Chunks written out, then acknowledged at once.
	f.Add(append(bytes.Repeat([]byte{0xc0, 0xff, 0xff}, 2), append(bytes.Repeat([]byte{1, 0xfe, 0xff}, 9), 0xc2, 0xff, 0xff)...))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var b Buf
		var ref []byte // what b holds
		var sent int64 // the writer's offset, Base <= sent <= End
		next := byte(0)
		for ; len(ops) >= 3; ops = ops[3:] {
			k := int(binary.LittleEndian.Uint16(ops[1:])) << (ops[0] >> 6)
			switch ops[0] & 0x3f % 5 {
			case 0: // append k bytes
				p := make([]byte, k)
				for i := range p {
					p[i] = next
					next++
				}
				b.Append(p)
				ref = append(ref, p...)
			case 1: // write a view out, an ack of all of it (k odd) and more bytes landing meanwhile
				if sent >= b.End() {
					continue
				}
				v := b.View(sent, max(k, 1))
				at := int(sent - b.Base())
				if len(v) == 0 || !bytes.Equal(v, ref[at:at+len(v)]) {
					t.Fatalf("view at %d: %d bytes, not what was appended", sent, len(v))
				}
				was := append([]byte(nil), v...)
				sent += int64(len(v))
				if k%2 == 1 {
					b.DropTo(sent)
					ref = ref[at+len(v):]
				}
				b.Append(bytes.Repeat([]byte{0xee}, k))
				ref = append(ref, bytes.Repeat([]byte{0xee}, k)...)
				if !bytes.Equal(v, was) {
					t.Fatalf("a view's bytes changed under it")
				}
				b.Release()
			case 2: // an ack of up to k written bytes
				if d := min(int64(k), sent-b.Base()); d > 0 {
					ref = ref[d:]
					b.DropTo(b.Base() + d)
				}
			case 3: // read again from base+k
				at := min(k, len(ref))
				if got := b.CopyFrom(b.Base() + int64(at)); !bytes.Equal(got, ref[at:]) {
					t.Fatalf("CopyFrom(base+%d): %d bytes, want %d, not the same", at, len(got), len(ref)-at)
				}
			case 4: // start again at End+k
				b.Reset(b.End() + int64(k))
				ref, sent = nil, b.Base()
			}
			sent = max(sent, b.Base())
			if b.Len() != len(ref) || b.End()-b.Base() != int64(len(ref)) {
				t.Fatalf("holds %d bytes from %d to %d, want %d", b.Len(), b.Base(), b.End(), len(ref))
			}
			checkBounds(t, &b)
		}
		if b.DropTo(b.End()); b.Len() != 0 || b.chunks != nil || b.free != nil {
			t.Fatalf("quiet stream holds %d chunks, %d free", len(b.chunks), len(b.free))
		}
	})
}
