package master

import "testing"

// TestStdinKept: an acknowledgment lets go of what it covers; a resume
// sends again from the node's offset; an offset past what this master
// sent (a node that had more from the master before it) leaves nothing
// to send; a resumed channel's first acknowledgment is handed to its
// copy once.
func TestStdinKept(t *testing.T) {
	var k stdinKept
	k.keep([]byte("0123"))
	k.keep([]byte("456789"))
	k.ack(4)
	if k.base != 4 || string(k.buf.from(0)) != "456789" {
		t.Errorf("ack 4: base %d buf %q, want 4 %q", k.base, k.buf.from(0), "456789")
	}
	for off, want := range map[int64]string{0: "456789", 4: "456789", 7: "789", 10: "", 12: ""} {
		if got := string(k.since(off)); got != want {
			t.Errorf("since(%d) = %q, want %q", off, got, want)
		}
	}
	k.ack(2) // older than what was let go: nothing changes
	if k.base != 4 || string(k.buf.from(0)) != "456789" {
		t.Errorf("ack 2 after 4: base %d buf %q", k.base, k.buf.from(0))
	}
	k.resuming()
	first := k.firstAck()
	if first == nil || k.firstAck() != nil {
		t.Fatalf("a resume has one first acknowledgment")
	}
	k.ack(25)
	if off := <-first; off != 25 || k.base != 25 || k.buf.n != 0 {
		t.Errorf("first ack 25 (past what was sent): handed %d, base %d, buf %q", off, k.base, k.buf.from(0))
	}
	k.keep([]byte("ab"))
	k.startOver()
	if k.base != 0 || k.buf.n != 0 {
		t.Errorf("after a move: base %d buf %q, want empty from 0", k.base, k.buf.from(0))
	}
}

// TestKeptBytes: what is held across chunks reads back as appended, from
// any offset, after drops within and across chunks.
func TestKeptBytes(t *testing.T) {
	var b keptBytes
	var ref []byte
	for i := range 300 {
		p := make([]byte, 1+i*7%4000)
		for j := range p {
			p[j] = byte(i + j)
		}
		b.append(p)
		ref = append(ref, p...)
		if i%7 == 3 {
			k := len(ref) / 3
			b.drop(k)
			ref = ref[k:]
		}
		if b.n != len(ref) {
			t.Fatalf("step %d: holds %d, want %d", i, b.n, len(ref))
		}
		for _, k := range []int{0, len(ref) / 2, len(ref)} {
			if got := b.from(k); string(got) != string(ref[k:]) {
				t.Fatalf("step %d: from(%d) differs (%d bytes, want %d)", i, k, len(got), len(ref)-k)
			}
		}
	}
	b.drop(b.n)
	if b.n != 0 || len(b.chunks) != 0 {
		t.Errorf("all dropped: %d bytes in %d chunks", b.n, len(b.chunks))
	}
}
