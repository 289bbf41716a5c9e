package spacemux

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// pipeChan is one end of an in-memory ssh.Channel: a byte stream, which
// is all a ChanSpace uses.
type pipeChan struct{ net.Conn }

func (pipeChan) CloseWrite() error                              { return nil }
func (pipeChan) SendRequest(string, bool, []byte) (bool, error) { return false, nil }
func (pipeChan) Stderr() io.ReadWriter                          { return nil }

// warnings collects what a side logs.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) warn(msg string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprint(append([]any{msg}, args...)...))
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// pair is a master's and a node's side of one ChanSpace; the node's
// adopted relays arrive on adopted.
func pair(t *testing.T) (master, node *Mux, adopted chan adoption, mw, nw *warnings, nodeEnd net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	mw, nw = &warnings{}, &warnings{}
	adopted = make(chan adoption, 100)
	master = New(pipeChan{a}, nil, true, mw.warn, nil)
	node = New(pipeChan{b}, nil, false, nw.warn, func(pid int, r *Relay) { adopted <- adoption{pid, r} })
	return master, node, adopted, mw, nw, b
}

// adoption is a relay the node adopted, and its ghost's PID.
type adoption struct {
	pid int
	r   *Relay
}

func recv(t *testing.T, reqs <-chan *ssh.Request, what string) (*ssh.Request, bool) {
	t.Helper()
	select {
	case r, ok := <-reqs:
		return r, ok
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
	}
	return nil, false
}

// TestRelayLife: a relay is adopted on the node with its ghost's PID, a
// signal reaches it and is answered, the exit reaches the master and
// ends its requests, the master's close ends the node's, and both sides
// forget it.
func TestRelayLife(t *testing.T) {
	master, node, adopted, mw, nw, _ := pair(t)
	r, err := master.Open(4242)
	if err != nil {
		t.Fatal(err)
	}
	a := <-adopted
	nr := a.r
	if a.pid != 4242 {
		t.Fatalf("adopted PID %d, want 4242", a.pid)
	}
	answered := make(chan bool)
	go func() {
		ok, err := r.SendRequest(wire.ReqSignal, true, wire.MarshalSignal(syscall.SIGUSR1))
		answered <- ok && err == nil
	}()
	req, _ := recv(t, nr.Requests(), "signal")
	if sig, _ := wire.UnmarshalSignal(req.Payload); req.Type != wire.ReqSignal || sig != syscall.SIGUSR1 {
		t.Fatalf("node got %s %v", req.Type, req.Payload)
	}
	if !<-answered {
		t.Fatal("the signal was not answered")
	}
	// Requests a descendant's relay has no use for are dropped.
	if ok, err := r.SendRequest(wire.ReqStdinEOF, false, nil); ok || err != nil {
		t.Errorf("stdin EOF: %v %v", ok, err)
	}
	nr.SendRequest(wire.ReqStdinAck, false, []byte("{}"))
	nr.SendRequest(wire.ReqExit, false, wire.ExitStatus{Code: 7}.Marshal())
	nr.Close()
	req, _ = recv(t, r.Requests(), "exit")
	if s, _ := wire.UnmarshalExitStatus(req.Payload); req.Type != wire.ReqExit || s.Code != 7 {
		t.Fatalf("master got %s %v", req.Type, req.Payload)
	}
	if _, ok := recv(t, r.Requests(), "end"); ok {
		t.Fatal("master's requests did not end after the exit")
	}
	r.Close()
	if _, ok := recv(t, nr.Requests(), "end"); ok {
		t.Fatal("node's requests did not end after the master's close")
	}
	for master.Len()+node.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	if s := mw.all() + nw.all(); s != "" {
		t.Errorf("warnings: %s", s)
	}
}

// TestRelayClosedByMaster: the master closes first (the ghost is gone);
// the node's requests end, its close answers, and an exit that crossed
// the close is not lost nor an error on either side.
func TestRelayClosedByMaster(t *testing.T) {
	master, node, adopted, mw, nw, _ := pair(t)
	r, _ := master.Open(10)
	nr := (<-adopted).r
	nr.SendRequest(wire.ReqExit, false, wire.ExitStatus{Signal: syscall.SIGTERM}.Marshal())
	r.Close()
	for ok := true; ok; {
		_, ok = recv(t, r.Requests(), "master's end")
	}
	for ok := true; ok; {
		_, ok = recv(t, nr.Requests(), "node's end")
	}
	for master.Len()+node.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	if s := mw.all() + nw.all(); s != "" {
		t.Errorf("warnings: %s", s)
	}
}

// TestMuxLost: when the channel ends, every relay's requests end, and a
// signal waiting for its answer fails (the master holds it for a
// resume).
func TestMuxLost(t *testing.T) {
	master, _, adopted, _, _, nodeEnd := pair(t)
	r1, _ := master.Open(1)
	r2, _ := master.Open(2)
	n1 := <-adopted
	if n1.pid != 1 {
		n1 = <-adopted
	}
	failed := make(chan error)
	go func() {
		_, err := r1.SendRequest(wire.ReqSignal, true, wire.MarshalSignal(syscall.SIGTERM))
		failed <- err
	}()
	// Not taken by the node's reader (its process's relay is busy):
	// not answered, when the channel ends.
	time.Sleep(10 * time.Millisecond)
	nodeEnd.Close()
	if err := <-failed; err == nil {
		t.Error("a signal whose answer was lost reports success")
	}
	for _, r := range []*Relay{r1, r2} {
		if _, ok := recv(t, r.Requests(), "end"); ok {
			t.Error("a relay's requests go on after its channel ended")
		}
	}
	if _, err := master.Open(3); err == nil {
		t.Error("a relay opened on an ended channel")
	}
}

// TestBadRecords: every record that makes no sense is logged in one line
// naming what was wrong, and the relays go on.
func TestBadRecords(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	mw := &warnings{}
	master := New(pipeChan{a}, nil, true, mw.warn, nil)
	r, _ := master.Open(99)
	go io.Copy(io.Discard, b) // the master's records
	bad := []struct {
		rec  []byte
		want string
	}{
		{make([]byte, 16), "unknown kind 0"},
		{wire.SpaceRecord{Kind: wire.SpaceSignal, ID: 1, Arg: 9}.Marshal(nil), "signal from the node"},
		{wire.SpaceRecord{Kind: wire.SpaceClose, ID: 5}.Marshal(nil), "unknown relay 5"},
		{wire.SpaceRecord{Kind: wire.SpaceSignaled, ID: 1}.Marshal(nil), "answer to no signal on relay 1"},
		{[]byte{wire.SpaceExit, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0}, "code 256 out of range"},
		{[]byte{wire.SpaceClose, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "flags 0x2"},
	}
	for i, c := range bad {
		if _, err := b.Write(c.rec); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for (mw.all() == "" || strings.Count(mw.all(), "\n") < i) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		lines := strings.Split(mw.all(), "\n")
		if len(lines) != i+1 || !strings.Contains(lines[i], c.want) {
			t.Fatalf("record % x: warnings %q, want line %d with %q", c.rec, lines, i+1, c.want)
		}
	}
	b.Write(wire.SpaceRecord{Kind: wire.SpaceExit, ID: 1, Status: wire.ExitStatus{Code: 2}}.Marshal(nil))
	req, _ := recv(t, r.Requests(), "exit")
	if s, _ := wire.UnmarshalExitStatus(req.Payload); s.Code != 2 {
		t.Errorf("exit after bad records: %v", req.Payload)
	}
}

// TestRelayMemory: a relay costs the master a few hundred bytes (its
// struct, its Go channel, its entry in the table), where an SSH channel
// of its own (ChanAdopt) cost 1.28 kB.
func TestRelayMemory(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go io.Copy(io.Discard, b)
	master := New(pipeChan{a}, nil, true, func(string, ...any) {}, nil)
	const n = 20000
	relays := make([]*Relay, 0, n)
	var before, after runtime.MemStats
	time.Sleep(10 * time.Millisecond) // the other tests' relays end
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		r, err := master.Open(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		relays = append(relays, r)
	}
	for master.busy() {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes of heap per relay", per)
	if per > 512 {
		t.Errorf("%.0f bytes of heap per relay, want at most 512", per)
	}
	runtime.KeepAlive(relays)
}

// TestOneWriter: the records of a channel are written by one goroutine
// for its life. A goroutine started per batch (as each fork's adopt,
// exit and close came one at a time) grew its stack through the SSH
// cipher again each time: a twentieth of the master's CPU per fork.
func TestOneWriter(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go io.Copy(io.Discard, b)
	master := New(pipeChan{a}, nil, true, func(string, ...any) {}, nil)
	const n = 200
	created := func() uint64 {
		s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	// The other tests' relays end first (each end runs a goroutine):
	// the count is the process's.
	before := created()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); before = created() {
		time.Sleep(50 * time.Millisecond)
		if created() == before {
			break
		}
	}
	for i := range n {
		if _, err := master.Open(i + 1); err != nil {
			t.Fatal(err)
		}
		for master.busy() {
			time.Sleep(100 * time.Microsecond)
		}
	}
	if more := created() - before; more > n/10 {
		t.Errorf("%d goroutines started for %d batches of records, want a few", more, n)
	}
}
