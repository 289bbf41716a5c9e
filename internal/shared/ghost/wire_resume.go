package ghost

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// A ghost outlives its master: what the master tells it of its process
// (CmdWhere, CmdOut) is what it tells the next master on the same socket
// path, in a resume hello, when its own is gone (stub.c's reconnect).
const (
	// CmdWhere tells the ghost its process's node (arg); 8 bytes follow:
	// uint32 the PID there, uint32 the grace time in seconds, how long
	// the ghost waits for a next master (0: it dies with this one).
	CmdWhere = 7
	// CmdOut tells the ghost how many bytes of stream arg (1 stdout, 2
	// stderr) the master has written to the ghost's fd; uint64 follows.
	// Stream 0 (resume version 2): the offset of stdin's regular file
	// where the node's count of stdin starts (procs_stdin_file.go).
	CmdOut = 8

	// ResumeMagic starts a resume hello.
	ResumeMagic = "BPGR"
	// ResumeVersion is the resume hello a ghost of this binary says:
	// version 1 (ResumeHelloSizeV1, a ghost from before: no flags, no
	// stdin offset, no CmdData) is still taken.
	ResumeVersion = 2
	// ResumeHelloSize: magic, fdmask, version, node, node PID, flags,
	// the bytes written of stdout and stderr, stdin's file offset, the
	// node's offset of the stdin kept and its length (uint32), reserved
	// (uint32); then the stdin kept (at most KeepMax bytes).
	ResumeHelloSize   = 64
	ResumeHelloSizeV1 = 40
	// ResumeHaveIn (flags): the ghost was told stdin's file offset.
	ResumeHaveIn = 1
)

// Resume is what a ghost whose master is gone tells the next one.
type Resume struct {
	Version uint32 // 1: from a ghost of before ResumeVersion
	FDMask  uint32 // its fds among 0-2 that came with the hello
	Node    int
	NodePID int
	Out     [2]int64 // bytes of stdout and stderr written to the ghost's fds
	HaveIn  bool     // In was told (version 2)
	In      int64    // stdin's file offset where the node's count starts
	// KeptBase is the node's offset of the KeptLen bytes of stdin that
	// follow the hello (wire_keep.go).
	KeptBase int64
	KeptLen  int
}

// ResumeLen is the length of the resume hello that begins with head (at
// least 12 bytes): what its version says, or ResumeHelloSizeV1 for a
// version ParseResume will refuse.
func ResumeLen(head []byte) int {
	if len(head) >= 12 && binary.LittleEndian.Uint32(head[8:12]) == ResumeVersion {
		return ResumeHelloSize
	}
	return ResumeHelloSizeV1
}

// WriteWhere tells the ghost where its process runs and how long to wait
// for a next master.
func WriteWhere(w io.Writer, node, nodePID int, grace time.Duration) error {
	if node < 0 || nodePID < 0 {
		return fmt.Errorf("ghost: where: node %d, PID %d", node, nodePID)
	}
	var b [CmdSize + 8]byte
	binary.LittleEndian.PutUint32(b[0:4], CmdWhere)
	binary.LittleEndian.PutUint32(b[4:8], uint32(node))
	binary.LittleEndian.PutUint32(b[8:12], uint32(nodePID))
	binary.LittleEndian.PutUint32(b[12:16], uint32(min(grace/time.Second, 1<<31)))
	_, err := w.Write(b[:])
	return err
}

// MarshalOut is CmdOut for stream (1, 2) at offset n.
func MarshalOut(stream int, n int64) [CmdSize + 8]byte {
	var b [CmdSize + 8]byte
	binary.LittleEndian.PutUint32(b[0:4], CmdOut)
	binary.LittleEndian.PutUint32(b[4:8], uint32(stream))
	binary.LittleEndian.PutUint64(b[8:16], uint64(n))
	return b
}

// MarshalResume returns a resume hello of r.Version (ResumeVersion if
// 0), for tests and fake ghosts; the real one is stub.c.
func MarshalResume(r Resume) []byte {
	v := r.Version
	if v == 0 {
		v = ResumeVersion
	}
	b := make([]byte, ResumeHelloSizeV1, ResumeHelloSize)
	copy(b[0:4], ResumeMagic)
	binary.LittleEndian.PutUint32(b[4:8], r.FDMask)
	binary.LittleEndian.PutUint32(b[8:12], v)
	binary.LittleEndian.PutUint32(b[12:16], uint32(r.Node))
	binary.LittleEndian.PutUint32(b[16:20], uint32(r.NodePID))
	binary.LittleEndian.PutUint64(b[24:32], uint64(r.Out[0]))
	binary.LittleEndian.PutUint64(b[32:40], uint64(r.Out[1]))
	if v == ResumeVersion {
		if r.HaveIn {
			binary.LittleEndian.PutUint32(b[20:24], ResumeHaveIn)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(r.In))
		b = binary.LittleEndian.AppendUint64(b, uint64(r.KeptBase))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.KeptLen))
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	return b
}

// ParseResume checks a resume hello's bytes against the nfds fds that
// came with it. Every error wraps ErrBadHello.
func ParseResume(b []byte, nfds int) (Resume, error) {
	var r Resume
	if len(b) >= 12 {
		r.Version = binary.LittleEndian.Uint32(b[8:12])
	}
	want := ResumeHelloSizeV1
	if r.Version == ResumeVersion {
		want = ResumeHelloSize
	}
	switch {
	case len(b) < 12 || string(b[0:4]) != ResumeMagic:
		return r, fmt.Errorf("%w: resume hello %q: not magic %q", ErrBadHello, b[:min(len(b), 4)], ResumeMagic)
	case r.Version != 1 && r.Version != ResumeVersion:
		return r, fmt.Errorf("%w: resume hello version %d, want 1 or %d", ErrBadHello, r.Version, ResumeVersion)
	case len(b) != want:
		return r, fmt.Errorf("%w: resume hello of %d bytes, want %d", ErrBadHello, len(b), want)
	case r.Version == 1 && binary.LittleEndian.Uint32(b[20:24]) != 0:
		return r, fmt.Errorf("%w: reserved field %#x, want 0", ErrBadHello, binary.LittleEndian.Uint32(b[20:24]))
	case binary.LittleEndian.Uint32(b[20:24])&^ResumeHaveIn != 0:
		return r, fmt.Errorf("%w: resume flags %#x, want %#x or 0", ErrBadHello, binary.LittleEndian.Uint32(b[20:24]), ResumeHaveIn)
	}
	if r.Version == ResumeVersion {
		r.HaveIn = binary.LittleEndian.Uint32(b[20:24])&ResumeHaveIn != 0
		in, kb, kl := binary.LittleEndian.Uint64(b[40:48]), binary.LittleEndian.Uint64(b[48:56]), binary.LittleEndian.Uint32(b[56:60])
		if in > 1<<62 || kb > 1<<62 || kl > KeepMax {
			return r, fmt.Errorf("%w: stdin offset %d, kept %d bytes at %d: out of range", ErrBadHello, in, kl, kb)
		}
		if rs := binary.LittleEndian.Uint32(b[60:64]); rs != 0 {
			return r, fmt.Errorf("%w: reserved field %#x, want 0", ErrBadHello, rs)
		}
		r.In, r.KeptBase, r.KeptLen = int64(in), int64(kb), int(kl)
	}
	r.FDMask = binary.LittleEndian.Uint32(b[4:8])
	if r.FDMask&^7 != 0 {
		return r, fmt.Errorf("%w: fdmask %#x names fds beyond 2", ErrBadHello, r.FDMask)
	}
	if want := bits.OnesCount32(r.FDMask); nfds != want {
		return r, fmt.Errorf("%w: fdmask %#x announces %d fds, got %d", ErrBadHello, r.FDMask, want, nfds)
	}
	node, pid := binary.LittleEndian.Uint32(b[12:16]), binary.LittleEndian.Uint32(b[16:20])
	out0, out1 := binary.LittleEndian.Uint64(b[24:32]), binary.LittleEndian.Uint64(b[32:40])
	if node > 1<<30 || pid > 1<<30 || out0 > 1<<62 || out1 > 1<<62 {
		return r, fmt.Errorf("%w: node %d, node PID %d, offsets %d %d out of range", ErrBadHello, node, pid, out0, out1)
	}
	r.Node, r.NodePID, r.Out = int(node), int(pid), [2]int64{int64(out0), int64(out1)}
	return r, nil
}
