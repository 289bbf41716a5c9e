package master

import (
	"testing"
	"unsafe"
)

// TestProcSize: a proc, which every live process and descendant ghost
// holds for its life, stays in the 352-byte size class. It was 608
// bytes (the 640 class): the stdin it kept and the master's stops of
// its ghost, which few processes ever have, were in it (now made at
// their first use), and its fields were padded apart.
func TestProcSize(t *testing.T) {
	if got := unsafe.Sizeof(proc{}); got > 352 {
		t.Errorf("a proc is %d bytes, want 352 at most (its size class)", got)
	}
}
