package master

import (
	"strconv"
	"testing"
)

// FuzzShdPnd: any status text gives a mask or none, never a panic; a
// well-formed line gives its mask.
func FuzzShdPnd(f *testing.F) {
	f.Add([]byte("Name:\tghost\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000020000\nSigBlk:\tfffffffffffffeff\n"), uint64(0x20000))
	f.Add([]byte("ShdPnd:\t1\n"), uint64(1))
	f.Add([]byte("\nShdPnd:\tzz"), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, m uint64) {
		shdPnd(b)
		line := []byte("State:\tT (stopped)\nShdPnd:\t" + strconv.FormatUint(m, 16) + "\nSigBlk:\t0\n")
		if got, ok := shdPnd(line); !ok || got != m {
			t.Errorf("shdPnd(%q) = %#x, %v; want %#x", line, got, ok, m)
		}
	})
}
