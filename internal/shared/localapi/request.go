package localapi

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bproc/bproc/internal/shared/clip"
)

// Limits of a request, by its kind. A run carries a whole argv and
// environment: Linux passes a program at most a quarter of its stack limit
// of them (2 MiB by default) and never more than 6 MiB, and MaxRun holds
// that in JSON. Every other request is a few numbers, or a node list
// (MaxVRfork of them fits in well under MaxSmallRequest).
const (
	MaxRun          = MaxFrame
	MaxSmallRequest = 256 << 10
)

// FrameTimeout bounds a request from its first byte to its last: a client
// writes a frame at once, so one that stops half-way holds the master's
// buffer for nothing. Between frames a connection may be idle as long as
// it likes (bpsh waits for its processes; a notifier for a change).
const FrameTimeout = 30 * time.Second

// RequestReader reads the requests of one client for the master, bounding
// what an unfinished request may hold: the body is read as it arrives,
// not allocated from its header; its size is charged to the user's Budget
// while it is read; and a frame must be finished within FrameTimeout of
// its first byte (the first frame by First).
type RequestReader struct {
	R io.Reader
	// SetDeadline sets the read deadline of the connection (the zero time
	// clears it); reads past it fail with os.ErrDeadlineExceeded.
	SetDeadline func(time.Time)
	// First, if set, is when the connection's first frame must be in by.
	First time.Time
	// Finish bounds any other frame from its first byte (FrameTimeout if 0).
	Finish time.Duration
	// Charge reserves n bytes of the caller's budget until the frame is
	// read, waiting until the deadline at most (nil: no budget).
	Charge func(n int, deadline time.Time) (release func(), err error)
}

// Read reads the next request into req. io.EOF means the client hung up
// between frames.
func (rr *RequestReader) Read(req *Request) error {
	var hdr [4]byte
	// The first byte may take as long as the client likes, except on a
	// new connection.
	if _, err := io.ReadFull(rr.R, hdr[:1]); err != nil {
		return timeoutError(err, "read request")
	}
	deadline := rr.First
	rr.First = time.Time{}
	if deadline.IsZero() {
		deadline = time.Now().Add(cmp.Or(rr.Finish, FrameTimeout))
	}
	rr.SetDeadline(deadline)
	defer rr.SetDeadline(time.Time{})
	if _, err := io.ReadFull(rr.R, hdr[1:]); err != nil {
		return timeoutError(unexpected(err), "read request header")
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > MaxRun {
		return fmt.Errorf("request of %d bytes exceeds the limit of %d", n, MaxRun)
	}
	if rr.Charge != nil {
		release, err := rr.Charge(n, deadline)
		if err != nil {
			return fmt.Errorf("request of %d bytes: %w", n, err)
		}
		defer release()
	}
	b, err := readGrowing(rr.R, n)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, req); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	return nil
}

// readGrowing reads a body of n bytes into a buffer that grows with what
// arrives (doubling, from 4 kB), so a header alone holds no memory. Past
// MaxSmallRequest the request must be a run, which says so first.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 4<<10))
	checked := n <= MaxSmallRequest
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(n, 2*cap(b)))
			copy(grown, b)
			b = grown
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if !checked && len(b) >= 16 {
			if op := leadingOp(b); op != OpRun {
				return nil, fmt.Errorf("request of %d bytes: only a run may exceed %d bytes, with its op first (this one begins %q)", n, MaxSmallRequest, clip.S(string(b[:min(len(b), 32)])))
			}
			checked = true
		}
		if err != nil && len(b) < n {
			return nil, timeoutError(fmt.Errorf("read request of %d bytes, %d in: %w", n, len(b), unexpected(err)), "")
		}
	}
	return b, nil
}

// leadingOp is the op of a request that names it first, as every client
// writes it: {"op":"run",...; "" if it does not begin so.
func leadingOp(b []byte) string {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	if t, err := d.Token(); err != nil || t != "op" {
		return ""
	}
	if t, err := d.Token(); err == nil {
		if s, ok := t.(string); ok {
			return s
		}
	}
	return ""
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// timeoutError says a deadline passed in words; other errors pass as they
// are (wrapped with what, if given).
func timeoutError(err error, what string) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("request not finished in time: %w", err)
	}
	if what == "" || err == io.EOF {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
