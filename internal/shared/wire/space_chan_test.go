package wire

import (
	"bytes"
	"syscall"
	"testing"
)

// FuzzSpaceRecord: whatever 16 bytes arrive on a ChanSpace decode as a
// record that encodes back to the same bytes, within its bounds, or are
// refused with an error; anything of another size is refused.
func FuzzSpaceRecord(f *testing.F) {
	f.Add(SpaceRecord{Kind: SpaceAdopt, ID: 1, Arg: 4242}.Marshal(nil), true)
	f.Add(SpaceRecord{Kind: SpaceSignal, ID: 2, Arg: 9, Reply: true}.Marshal(nil), true)
	f.Add(SpaceRecord{Kind: SpaceExit, ID: 3, Status: ExitStatus{Signal: syscall.SIGSEGV, Core: true}}.Marshal(nil), false)
	f.Add(SpaceRecord{Kind: SpaceSignaled, ID: 4}.Marshal(nil), false)
	f.Add(SpaceRecord{Kind: SpaceClose, ID: 5}.Marshal(nil), false)
	f.Add([]byte{9, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, fromMaster bool) {
		r, err := UnmarshalSpaceRecord(b, fromMaster)
		if err != nil {
			return
		}
		if len(b) != SpaceRecordSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if got := r.Marshal(nil); !bytes.Equal(got, b) {
			t.Fatalf("% x decodes as %+v, which encodes as % x", b, r, got)
		}
		switch r.Kind {
		case SpaceAdopt:
			if !fromMaster || r.Arg <= 0 || r.Arg > maxSpacePID {
				t.Fatalf("accepted %+v from master %v", r, fromMaster)
			}
		case SpaceSignal:
			if !fromMaster || r.Arg <= 0 || r.Arg > 64 {
				t.Fatalf("accepted %+v from master %v", r, fromMaster)
			}
		case SpaceExit, SpaceSignaled:
			if fromMaster {
				t.Fatalf("accepted %+v from the master", r)
			}
		case SpaceClose:
		default:
			t.Fatalf("accepted kind %d", r.Kind)
		}
	})
}

// TestSpaceRecordErrors: each refusal says what was wrong.
func TestSpaceRecordErrors(t *testing.T) {
	for _, c := range []struct {
		b          []byte
		fromMaster bool
		want       string
	}{
		{[]byte{1, 2, 3}, true, "space record: want 16 bytes, got 3"},
		{SpaceRecord{Kind: SpaceExit, ID: 3}.Marshal(nil), true, "space record: exit from the master, which never sends one"},
		{SpaceRecord{Kind: SpaceAdopt, ID: 3}.Marshal(nil), true, "space record: adopt of relay 3: PID 0 out of range"},
		{SpaceRecord{Kind: SpaceSignal, ID: 3, Arg: 65}.Marshal(nil), true, "space record: signal of relay 3: signal: number 65 out of range"},
		{[]byte{SpaceClose, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1}, false, "space record: close of relay 8 with an argument (00 00 00 00 00 00 00 01)"},
		{[]byte{SpaceClose, 0, 1, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}, false, "space record: close with bytes 2-3 not zero (01 00)"},
	} {
		_, err := UnmarshalSpaceRecord(c.b, c.fromMaster)
		if err == nil || err.Error() != c.want {
			t.Errorf("% x: %v, want %q", c.b, err, c.want)
		}
	}
}
