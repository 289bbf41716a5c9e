package node

import (
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestLinkAck: an acknowledgment frees what it covers, also bytes of a
// write still in progress (counted as sent only when it returns: ignoring
// them left a full buffer waiting for an ack that never came), and
// nothing past what the node holds.
func TestLinkAck(t *testing.T) {
	l := &link{}
	l.init()
	o := &l.out[0]
	o.buf.base, o.sent = 100, 102 // 102-110 being written
	o.buf.append([]byte("0123456789"))
	l.ack(wire.Ack{Stream: 1, Offset: 105})
	if o.buf.base != 105 || held(&o.buf) != "56789" {
		t.Errorf("ack 105 within a write in progress: base %d buf %q, want 105 %q", o.buf.base, held(&o.buf), "56789")
	}
	for _, bad := range []wire.Ack{{Stream: 1, Offset: 111}, {Stream: 1, Offset: 104}, {Stream: 3, Offset: 108}, {Stream: 0, Offset: 108}} {
		l.ack(bad)
		if o.buf.base != 105 || held(&o.buf) != "56789" {
			t.Errorf("ack %+v changed the buffer: base %d buf %q", bad, o.buf.base, held(&o.buf))
		}
	}
	l.ack(wire.Ack{Stream: 1, Offset: 110})
	if o.buf.base != 110 || o.buf.len() != 0 {
		t.Errorf("ack of all: base %d buf %q", o.buf.base, held(&o.buf))
	}
}

// held is what b holds, read as drain reads it.
func held(b *outBytes) string {
	var out []byte
	for off := b.base; off < b.end(); {
		v := b.view(off, maxWrite)
		out = append(out, v...)
		b.release()
		off += int64(len(v))
	}
	return string(out)
}
