package ghost

import (
	"encoding/binary"
	"fmt"
)

// A ghost of resume version 2 keeps the stdin its master read from the
// ghost's fd 0 and sent to the node, until the node acknowledges it
// (stub.c's keep): the master sends the ghost a copy of each chunk first
// (CmdKeep), and the node's acknowledgments after (CmdOut for stream
// OutInAck). A ghost whose master is gone gives what it kept to the next
// one after its resume hello (Resume.KeptBase, KeptLen), which sends the
// node what it has not: stdin a killed master had read is not lost.
const (
	// CmdKeep: arg is n (at most KeepMax); uint64 follows, the node's
	// offset of the n bytes of stdin that follow it.
	CmdKeep = 10
	// KeepMax bounds what a ghost keeps (stub.c's KEEP_MAX): the master
	// holds no more unacknowledged stdin than that for such a ghost.
	KeepMax = 512 << 10
	// OutInAck is the CmdOut stream that says the node's count of stdin
	// written into the process: the ghost lets go of what is before it.
	OutInAck = 3
)

// MarshalKeep is the head of a CmdKeep of n bytes (0 < n <= KeepMax) at
// the node's offset off; the bytes follow it.
func MarshalKeep(off int64, n int) ([CmdSize + 8]byte, error) {
	var b [CmdSize + 8]byte
	if off < 0 || n <= 0 || n > KeepMax {
		return b, fmt.Errorf("ghost: keep %d bytes of stdin at %d", n, off)
	}
	binary.LittleEndian.PutUint32(b[0:4], CmdKeep)
	binary.LittleEndian.PutUint32(b[4:8], uint32(n))
	binary.LittleEndian.PutUint64(b[8:16], uint64(off))
	return b, nil
}
