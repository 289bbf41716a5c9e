package streamcopy

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
)

// chunks reads its data in the given sizes, as a pipe hands over what a
// writer wrote in bursts.
type chunks struct {
	data  []byte
	sizes []int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, c.sizes[0])
		c.sizes = c.sizes[1:]
	}
	n = copy(p, c.data[:min(n, len(p))])
	c.data = c.data[n:]
	return n, nil
}

func TestCopyExact(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data)
	// Quiet, then busy (reads that fill each buffer), then quiet again,
	// and a burst once more: every switch between the two buffers.
	sizes := []int{10, 1, 512, 512, 40 << 10, 40 << 10, 100, 5, 512, 1 << 20}
	var out bytes.Buffer
	n, err := Copy(&out, &chunks{data: data, sizes: sizes})
	if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Copy = %d, %v; same bytes %v", n, err, bytes.Equal(out.Bytes(), data))
	}
}

type failWriter struct{ short bool }

func (w failWriter) Write(p []byte) (int, error) {
	if w.short {
		return len(p) - 1, nil
	}
	return 0, errors.New("reader gone")
}

func TestCopyWriteErrors(t *testing.T) {
	src := func() io.Reader { return bytes.NewReader([]byte("some output\n")) }
	if _, err := Copy(failWriter{}, src()); err == nil || err.Error() != "reader gone" {
		t.Errorf("a failing writer: %v, want its error", err)
	}
	if _, err := Copy(failWriter{short: true}, src()); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("a short write: %v, want io.ErrShortWrite", err)
	}
	readErr := errors.New("channel broken")
	if _, err := Copy(io.Discard, io.MultiReader(src(), errReader{readErr})); !errors.Is(err, readErr) {
		t.Errorf("a failing reader: %v, want its error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
