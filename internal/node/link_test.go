package node

import (
	"testing"

	"github.com/bproc/bproc/internal/shared/ackbuf"
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
	o.buf.Reset(100)
	o.sent = 102 // 102-110 being written
	o.buf.Append([]byte("0123456789"))
	l.ack(wire.Ack{Stream: 1, Offset: 105})
	if o.buf.Base() != 105 || held(&o.buf) != "56789" {
		t.Errorf("ack 105 within a write in progress: base %d buf %q, want 105 %q", o.buf.Base(), held(&o.buf), "56789")
	}
	for _, bad := range []wire.Ack{{Stream: 1, Offset: 111}, {Stream: 1, Offset: 104}, {Stream: 3, Offset: 108}, {Stream: 0, Offset: 108}} {
		l.ack(bad)
		if o.buf.Base() != 105 || held(&o.buf) != "56789" {
			t.Errorf("ack %+v changed the buffer: base %d buf %q", bad, o.buf.Base(), held(&o.buf))
		}
	}
	l.ack(wire.Ack{Stream: 1, Offset: 110})
	if o.buf.Base() != 110 || o.buf.Len() != 0 {
		t.Errorf("ack of all: base %d buf %q", o.buf.Base(), held(&o.buf))
	}
}

// held is what b holds, read as drain reads it.
func held(b *ackbuf.Buf) string {
	var out []byte
	for off := b.Base(); off < b.End(); {
		v := b.View(off, maxWrite)
		out = append(out, v...)
		b.Release()
		off += int64(len(v))
	}
	return string(out)
}
