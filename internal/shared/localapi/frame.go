// Package localapi is the protocol between bpmaster and the programs of its
// own machine (bpsh, bpstat, bpctl, programs using package bproc) on the
// master's unix socket: length-prefixed JSON frames. Ghosts share the socket
// but speak their own fixed-size binary protocol (package ghost), told apart
// by their first four bytes.
package localapi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxFrame bounds one frame: a request carries a whole environment and argv,
// which the kernel caps at a few MiB anyway.
const MaxFrame = 8 << 20

// DefaultSocket is where bpmaster listens unless told otherwise.
const DefaultSocket = "/run/bproc/master.sock"

// SocketPath is the socket a client should use: $BPROC_SOCKET, else the default.
//
// A $BPROC_SOCKET that is not there is passed over for the default one
// when that is there: a process started on a node carries its caller's
// environment, and the node's own socket, which reaches the master, is at
// the default path.
func SocketPath() string {
	p := os.Getenv("BPROC_SOCKET")
	if p == "" {
		return DefaultSocket
	}
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(DefaultSocket); err == nil {
			return DefaultSocket
		}
	}
	return p
}

// WriteFrame sends v as one frame.
func WriteFrame(w io.Writer, v any) error {
	buf := make([]byte, 4, 512)
	var ok bool
	if req, isReq := v.(Request); isReq {
		buf, ok = appendRunRequest(buf, &req) // run_fast.go
	}
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode frame: %w", err)
		}
		buf = append(buf, b...)
	}
	n := len(buf) - 4
	if n > MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds the limit of %d", n, MaxFrame)
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame into v. io.EOF means the peer closed cleanly
// between frames.
func ReadFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read frame header: %w", err)
		}
		return err
	}
	return readBody(r, binary.BigEndian.Uint32(hdr[:]), v)
}

// ReadFrameAfter reads the body of a frame whose 4-byte header the caller
// already consumed (the master peeks at it to tell ghosts from clients).
func ReadFrameAfter(hdr [4]byte, r io.Reader, v any) error {
	return readBody(r, binary.BigEndian.Uint32(hdr[:]), v)
}

func readBody(r io.Reader, n uint32, v any) error {
	if n > MaxFrame {
		return fmt.Errorf("frame length %d exceeds the limit of %d", n, MaxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bad frame: %w", err)
	}
	return nil
}
