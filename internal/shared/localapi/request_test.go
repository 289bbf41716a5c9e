package localapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func frame(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func noDeadline(time.Time) {}

// A header that promises 8 MiB holds no 8 MiB: the body's buffer grows
// with what arrives.
func TestRequestReaderGrowsWithTheBody(t *testing.T) {
	in := append(binary.BigEndian.AppendUint32(nil, MaxRun), `{"op":"run","run":{"argv":["`...)
	in = append(in, strings.Repeat("a", 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var req Request
	err := (&RequestReader{R: bytes.NewReader(in), SetDeadline: noDeadline}).Read(&req)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read(a header of 8 MiB, 1 kB of body) = %v, want unexpected EOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Errorf("reading 1 kB of a frame of 8 MiB allocated %d bytes", got)
	}
}

func TestRequestReaderLimits(t *testing.T) {
	big := `{"op":"run","run":{"argv":["` + strings.Repeat("a", 5<<20) + `"]}}`
	var req Request
	if err := (&RequestReader{R: bytes.NewReader(frame(big)), SetDeadline: noDeadline}).Read(&req); err != nil || len(req.Run.Argv[0]) != 5<<20 {
		t.Errorf("Read(a run of 5 MiB) = %v", err)
	}
	for name, body := range map[string]string{
		"nodes":         `{"op":"nodes","x":"` + strings.Repeat("a", MaxSmallRequest) + `"}`,
		"op not first":  `{"run":{},"op":"run","x":"` + strings.Repeat("a", MaxSmallRequest) + `"}`,
		"garbage":       strings.Repeat("\x00", MaxSmallRequest+1),
		"over the most": `{"op":"run","x":"` + strings.Repeat("a", MaxRun) + `"}`,
	} {
		err := (&RequestReader{R: bytes.NewReader(frame(body)), SetDeadline: noDeadline}).Read(&req)
		if err == nil || strings.Contains(err.Error(), "\n") || len(err.Error()) > 300 {
			t.Errorf("Read(%s of %d bytes) = %.300v, want a short one-line error", name, len(body), err)
		}
	}
}

// A frame must be finished within its bound of its first byte, but a
// connection may be idle between frames for longer.
func TestRequestReaderDeadlines(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	rr := &RequestReader{R: server, SetDeadline: func(t time.Time) { server.SetReadDeadline(t) }, Finish: 200 * time.Millisecond}
	go func() {
		client.Write(frame(`{"op":"nodes"}`))
		time.Sleep(500 * time.Millisecond) // idle between frames
		client.Write(frame(`{"op":"procs"}`))
		client.Write(frame(`{"op":"nodes"}`)[:3]) // and a frame that stops
	}()
	for _, want := range []string{OpNodes, OpProcs} {
		var req Request
		if err := rr.Read(&req); err != nil || req.Op != want {
			t.Fatalf("Read = %+v, %v, want %s", req, err, want)
		}
	}
	began := time.Now()
	var req Request
	err := rr.Read(&req)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "not finished in time") {
		t.Errorf("Read(a frame that stops) = %v, want not finished in time", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("a frame that stops ended after %s, want about 200ms", d)
	}
	// The first frame of a connection has its own deadline.
	s2, c2 := net.Pipe()
	defer s2.Close()
	defer c2.Close()
	go c2.Write([]byte{0})
	rr = &RequestReader{R: s2, SetDeadline: func(t time.Time) { s2.SetReadDeadline(t) }, First: time.Now().Add(100 * time.Millisecond)}
	if err := rr.Read(&req); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read(a first frame past its deadline) = %v, want a timeout", err)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	soon := time.Now().Add(100 * time.Millisecond)
	r1, err := b.Charge(1000, 60, soon)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Charge(1000, 60, soon); err == nil {
		t.Error("a second 60 of 100 bytes was let through")
	}
	if _, err := b.Charge(1001, 60, soon); err != nil {
		t.Errorf("another user's 60 bytes: %v", err)
	}
	if _, err := b.Charge(0, 1000, soon); err != nil {
		t.Errorf("root's 1000 bytes: %v", err)
	}
	if _, err := b.Charge(1000, 101, time.Now().Add(time.Minute)); err == nil {
		t.Error("a request larger than the budget was let through")
	}
	// A waiting request goes on when bytes are released.
	done := make(chan error)
	go func() {
		_, err := b.Charge(1000, 60, time.Now().Add(10*time.Second))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r1()
	r1() // twice is once
	if err := <-done; err != nil {
		t.Errorf("a request waiting for bytes released: %v", err)
	}
	if got := b.Used(1000); got != 60 {
		t.Errorf("uid 1000 holds %d bytes, want 60", got)
	}
}
