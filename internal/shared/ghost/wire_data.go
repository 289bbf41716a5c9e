package ghost

import (
	"encoding/binary"
	"fmt"
)

// A ghost of resume version 2 writes its process's output itself
// (stub.c's data): the master sends it each chunk read from the node in a
// CmdData, and the ghost writes it to its fd 1 or 2, counts it (what it
// tells a next master, Resume.Out) and says so (EventWrote). The write
// and its count are the ghost's alone, so a master killed at any point
// neither loses nor repeats a byte: the master acknowledges output to
// the node only once the ghost said it was written.
const (
	// CmdData carries output: arg is the stream (1 stdout, 2 stderr)
	// << 24 | n, and n bytes follow (at most DataMax). One word of head:
	// a chunk costs the ghost two reads.
	CmdData = 9
	// DataMax bounds a CmdData's bytes (stub.c's DATA_MAX, its buffer).
	DataMax = 64 << 10
	// EventWrote says the ghost is done with a CmdData: arg is the
	// stream << 24 | its bytes (written, or dropped once the fd failed).
	EventWrote = 3
)

// MarshalData is the head of a CmdData of n bytes (0 < n <= DataMax) for
// stream (1, 2); the bytes follow it.
func MarshalData(stream, n int) ([CmdSize]byte, error) {
	var b [CmdSize]byte
	if stream < 1 || stream > 2 || n <= 0 || n > DataMax {
		return b, fmt.Errorf("ghost: data of %d bytes for stream %d", n, stream)
	}
	binary.LittleEndian.PutUint32(b[0:4], CmdData)
	binary.LittleEndian.PutUint32(b[4:8], uint32(stream<<24|n))
	return b, nil
}

// ParseWrote splits an EventWrote's arg: ok is false for one no ghost
// sends.
func ParseWrote(arg uint32) (stream, n int, ok bool) {
	stream, n = int(arg>>24), int(arg&(1<<24-1))
	return stream, n, (stream == 1 || stream == 2) && n > 0 && n <= DataMax
}
