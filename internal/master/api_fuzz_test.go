package master

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// nobody is the unprivileged peer of the fuzz target.
const nobody = 65534

// serveBound is how long the server may take over one input, however
// bad: every frame's deadlines and the watch's bound are under it.
const serveBound = 15 * time.Second

// apiServer is a master with two nodes (down) serving its local API on a
// real unix socket, and a client thread that connects as nobody.
type apiServer struct {
	m      *Master
	sock   string
	dialer *asuser.Worker
	served chan chan struct{} // one per connection: closed when serveLocal returns
}

func newAPIServer(tb testing.TB) *apiServer {
	if os.Geteuid() != 0 {
		tb.Skip("needs root: the client connects as another user")
	}
	dir := tb.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir's are root's alone
		os.Chmod(d, 0o755)
	}
	m, err := New(Config{StateDir: filepath.Join(dir, "state"), Nodes: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	m.watchLimit = 200 * time.Millisecond
	s := &apiServer{m: m, sock: filepath.Join(dir, "master.sock"), served: make(chan chan struct{}, 1)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.sock, Net: "unix"})
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(s.sock, 0o666)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			done := make(chan struct{})
			s.served <- done
			go func() {
				defer close(done)
				m.serveLocal(c)
			}()
		}
	}()
	s.dialer, err = asuser.NewWorker(asuser.Cred{UID: nobody, GID: nobody})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close(); s.dialer.Close(); m.ghosts.close() })
	return s
}

// exchange connects as nobody, sends in, hangs up its side, and returns
// what the server wrote until it closed.
func (s *apiServer) exchange(t *testing.T, in []byte) []byte {
	var c *net.UnixConn
	if err := s.dialer.Do(func() error {
		var err error
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: s.sock, Net: "unix"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := <-s.served
	go func() {
		c.Write(in) // the server may stop reading first
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(serveBound))
	out, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server still had the connection open after %s, for %.200q", serveBound, in)
	}
	select {
	case <-done:
	case <-time.After(serveBound):
		t.Fatalf("the server's goroutine was still running after %s, for %.200q", serveBound, in)
	}
	return out
}

// replies parses what the server wrote: whole frames, each a Reply (or an
// Event of a run).
func replies(t *testing.T, in, out []byte) []map[string]any {
	var all []map[string]any
	for len(out) > 0 {
		if len(out) < 4 {
			t.Fatalf("for %.200q the server wrote a partial header %q", in, out)
		}
		n := int(binary.BigEndian.Uint32(out))
		if len(out) < 4+n {
			t.Fatalf("for %.200q the server wrote a partial frame of %d bytes", in, n)
		}
		var v map[string]any
		if err := json.Unmarshal(out[4:4+n], &v); err != nil {
			t.Fatalf("for %.200q the server wrote a frame that is not JSON: %v", in, err)
		}
		all = append(all, v)
		out = out[4+n:]
	}
	return all
}

// FuzzServeLocal drives the master's handler of a local connection, on a
// real socket, with a peer that is not root: whatever it sends, the
// server does not panic, ends within a bound, writes only whole frames,
// and answers bytes that are not a request with an error frame or by
// hanging up.
func FuzzServeLocal(f *testing.F) {
	frame := func(body string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	for _, body := range []string{`{"op":"nodes"}`, `{"op":"procs"}`, `{"op":"where"}`, `{"op":"watch"}`,
		`{"op":"run","run":{"nodes":[0,1,7],"path":"/bin/true","argv":["true"],"env":[],"dir":"/"}}`,
		`{"op":"signal","signal":{"pid":1,"signal":9}}`, `{"op":"ctl","ctl":{"nodes":[0],"state":"up"}}`,
		`{"op":"move","node":0}`, `{"op":"vrfork","vrfork":{"nodes":[0],"pids":[1]}}`, `{"op":"add-node","mac":"52:54:00:12:34:56"}`,
		`{"op":"events"}`, `{"op":"ctl","ctl":{"nodes":[0],"state":"error","reason":"bad DIMM"}}`,
		`{"op":"ctl","ctl":{"nodes":[0],"state":"up","reason":"x"}}`, `{"op":"ctl","ctl":{"nodes":[0],"state":"error","reason":"a\u0007"}}`,
		`{"op":"nosuch"}`, `{"op":`, `null`, `[]`} {
		f.Add(frame(body))
	}
	f.Add(append(frame(`{"op":"nodes"}`), frame(`{"op":"procs"}`)...))
	f.Add([]byte{0, 0x80, 0, 0, '{'})
	f.Add([]byte(ghost.Magic))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte(ghost.ResumeMagic))
	f.Add(ghost.MarshalResume(ghost.Resume{Node: 0, NodePID: 1}))
	f.Add(ghost.MarshalResume(ghost.Resume{Version: 1, Node: 0, NodePID: 1}))
	s := newAPIServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := s.exchange(t, in)
		if bytes.HasPrefix(in, []byte(ghost.ResumeMagic)) {
			// A returning ghost is answered with a ghost command, or
			// not at all.
			if len(out) != 0 && len(out) != ghost.CmdSize {
				t.Fatalf("for %.200q a returning ghost got %q, want one command or nothing", in, out)
			}
			return
		}
		rs := replies(t, in, out)
		// Bytes that are not whole requests end with an error frame or
		// with nothing said.
		var dec localapi.RequestReader
		dec.R, dec.SetDeadline = bytes.NewReader(in), func(time.Time) {}
		var req localapi.Request
		bad := false
		for {
			if err := dec.Read(&req); err != nil {
				bad = err != io.EOF
				break
			}
		}
		if bad && len(rs) > 0 && !bytes.HasPrefix(in, []byte(ghost.Magic)) {
			if e, _ := rs[len(rs)-1]["error"].(string); e == "" || strings.Contains(e, "\n") {
				t.Fatalf("for %.200q the last reply is %v, want a one-line error", in, rs[len(rs)-1])
			}
		}
	})
}

// TestServeLocalRefusesGarbage: a peer that is not root sending garbage
// gets an error frame and the connection closed, on a real socket.
func TestServeLocalRefusesGarbage(t *testing.T) {
	s := newAPIServer(t)
	out := s.exchange(t, []byte("\x00\x00\x00\x05hello"))
	rs := replies(t, nil, out)
	if len(rs) != 1 || !strings.Contains(rs[0]["error"].(string), "bad request") {
		t.Errorf("garbage was answered %v, want one error frame", rs)
	}
}
