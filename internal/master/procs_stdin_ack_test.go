package master

import (
	"testing"

	"github.com/bproc/bproc/internal/shared/ackbuf"
)

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
	if k.buf.Base() != 4 || string(held(&k.buf)) != "456789" {
		t.Errorf("ack 4: base %d buf %q, want 4 %q", k.buf.Base(), held(&k.buf), "456789")
	}
	for off, want := range map[int64]string{0: "456789", 4: "456789", 7: "789", 10: "", 12: ""} {
		if got := string(k.since(off)); got != want {
			t.Errorf("since(%d) = %q, want %q", off, got, want)
		}
	}
	k.ack(2) // older than what was let go: nothing changes
	if k.buf.Base() != 4 || string(held(&k.buf)) != "456789" {
		t.Errorf("ack 2 after 4: base %d buf %q", k.buf.Base(), held(&k.buf))
	}
	k.resuming()
	first := k.firstAck()
	if first == nil || k.firstAck() != nil {
		t.Fatalf("a resume has one first acknowledgment")
	}
	k.ack(25)
	if off := <-first; off != 25 || k.buf.Base() != 25 || k.buf.Len() != 0 {
		t.Errorf("first ack 25 (past what was sent): handed %d, base %d, buf %q", off, k.buf.Base(), held(&k.buf))
	}
	k.keep([]byte("ab"))
	k.startOver()
	if k.buf.Base() != 0 || k.buf.Len() != 0 {
		t.Errorf("after a move: base %d buf %q, want empty from 0", k.buf.Base(), held(&k.buf))
	}
}

// held is all that b holds.
func held(b *ackbuf.Buf) []byte { return b.CopyFrom(b.Base()) }
