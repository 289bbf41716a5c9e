package ghost

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestGhostWrites: a ghost writes the output its master sends it
// (CmdData) to its own fd 1 or 2, says so (EventWrote) and counts it in
// its resume hello to the next master, on top of what CmdOut said: the
// count is of what it wrote, not of what was sent. A chunk the master
// had not finished sending when it went is neither written nor counted.
func TestGhostWrites(t *testing.T) {
	ln := listen(t)
	path := ln.Addr().String()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p := start(t, attr{Argv: []string{"cat"}, Socket: path, Token: newToken(t), Files: [3]*os.File{nil, w, w}})
	w.Close()
	c, _ := accept(t, ln)
	WriteWhere(c, 1, 99, 5*time.Second)
	note := MarshalOut(2, 1000)
	c.Write(note[:])
	big := bytes.Repeat([]byte("0123456789abcdef"), DataMax/16)
	for _, d := range []struct {
		stream int
		b      []byte
	}{{1, []byte("hello\n")}, {2, []byte("on stderr\n")}, {1, big}} {
		head, err := MarshalData(d.stream, len(d.b))
		if err != nil {
			t.Fatal(err)
		}
		c.Write(append(head[:], d.b...))
		got := make([]byte, len(d.b))
		r.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, d.b) {
			t.Fatalf("the ghost wrote %.40q, %v; want %.40q", got, err, d.b)
		}
		c.SetReadDeadline(time.Now().Add(testTimeout))
		typ, arg, err := ReadEvent(c)
		if s, n, ok := ParseWrote(arg); err != nil || typ != EventWrote || !ok || s != d.stream || n != len(d.b) {
			t.Fatalf("after a chunk of %d bytes for stream %d: event %d %#x, %v", len(d.b), d.stream, typ, arg, err)
		}
	}
	// Half a chunk, then the master is gone.
	head, _ := MarshalData(1, 100)
	c.Write(append(head[:], "cut short"...))
	c.Close()
	ln.Close()
	c2, res, _ := acceptResume(t, path)
	if want := [2]int64{6 + DataMax, 1000 + 10}; res.Out != want {
		t.Errorf("resume hello counts %v, want %v", res.Out, want)
	}
	r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := r.Read(make([]byte, 100)); n > 0 {
		t.Errorf("the ghost wrote %d bytes of a chunk cut short", n)
	}
	WriteSignal(c2, syscall.SIGTERM)
	p.wait(t, 0)
}

// TestGhostWritesEPIPE: output to a pipe whose reader is gone makes the
// ghost relay the SIGPIPE its write got (the remote process gets it, as
// it would locally) and drop the rest of that stream, counted.
func TestGhostWritesEPIPE(t *testing.T) {
	ln := listen(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, attr{Argv: []string{"cat"}, Socket: ln.Addr().String(), Token: newToken(t), Files: [3]*os.File{nil, w, nil}})
	w.Close()
	r.Close()
	c, _ := accept(t, ln)
	defer c.Close()
	var sigpipes, wrote int
	for range 2 {
		head, _ := MarshalData(1, 5)
		c.Write(append(head[:], "lost\n"...))
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	for wrote < 2 {
		typ, arg, err := ReadEvent(c)
		if err != nil {
			t.Fatalf("after %d chunks: %v", wrote, err)
		}
		switch {
		case typ == EventSignal && syscall.Signal(arg) == syscall.SIGPIPE:
			sigpipes++
		case typ == EventWrote:
			wrote++
		default:
			t.Errorf("event %d %d", typ, arg)
		}
	}
	// The signal may trail the count: wait for it a moment.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		typ, arg, err := ReadEvent(c)
		if err != nil {
			break
		}
		if typ == EventSignal && syscall.Signal(arg) == syscall.SIGPIPE {
			sigpipes++
		}
	}
	if sigpipes != 1 {
		t.Errorf("%d SIGPIPEs relayed for two chunks to a broken pipe, want 1", sigpipes)
	}
	WriteSignal(c, syscall.SIGTERM)
	p.wait(t, 0)
}

// TestGhostKeepsStdin: a ghost keeps the stdin its master sends it
// (CmdKeep) until the node's count passes it (CmdOut OutInAck), across a
// wrap of its ring, and gives what is left to the next master after its
// resume hello.
func TestGhostKeepsStdin(t *testing.T) {
	ln := listen(t)
	path := ln.Addr().String()
	p := start(t, attr{Argv: []string{"cat"}, Socket: path, Token: newToken(t)})
	c, _ := accept(t, ln)
	WriteWhere(c, 0, 7, 5*time.Second)
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 100<<10) }
	var off int64
	for i := range 8 { // 800 kB through a ring of 512 kB
		head, err := MarshalKeep(off, 100<<10)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(append(head[:], chunk(i)...))
		off += 100 << 10
		if i >= 2 {
			ack := MarshalOut(OutInAck, off-250<<10)
			c.Write(ack[:])
		}
	}
	c.Close()
	ln.Close()
	c2, res, _ := acceptResume(t, path)
	if res.KeptBase != off-250<<10 || res.KeptLen != 250<<10 {
		t.Fatalf("kept %d bytes from %d, want %d from %d", res.KeptLen, res.KeptBase, 250<<10, off-250<<10)
	}
	got := make([]byte, res.KeptLen)
	c2.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(c2, got); err != nil {
		t.Fatal(err)
	}
	want := append(append(chunk(5)[50<<10:], chunk(6)...), chunk(7)...)
	if !bytes.Equal(got, want) {
		t.Errorf("the stdin kept is not the last 250 kB sent")
	}
	WriteSignal(c2, syscall.SIGTERM)
	p.wait(t, 0)
}
