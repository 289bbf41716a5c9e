package master

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestRunWaitsForConnections: a master stopped with live connections (a
// client between requests, a client waiting on a watch, a node in its
// handshake) closes them at once and returns only when no goroutine of it
// serves them any more.
func TestRunWaitsForConnections(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "master.sock")
	m, err := New(Config{Socket: sock, Listen: "127.0.0.1:0", StateDir: filepath.Join(dir, "state"), Nodes: 1,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	select {
	case <-m.Ready:
	case err := <-ran:
		t.Fatalf("Run: %v", err)
	}

	// A client that asked once and stays connected.
	idle := dialMaster(t, sock)
	if err := localapi.WriteFrame(idle, localapi.Request{Op: localapi.OpNodes}); err != nil {
		t.Fatal(err)
	}
	var reply localapi.Reply
	if err := localapi.ReadFrame(idle, &reply); err != nil {
		t.Fatal(err)
	}
	// A client waiting for the node table to change (a minute at most).
	watcher := dialMaster(t, sock)
	if err := localapi.WriteFrame(watcher, localapi.Request{Op: localapi.OpWatch}); err != nil {
		t.Fatal(err)
	}
	// A node that connects and says nothing (its handshake may take 30 s).
	m.mu.Lock()
	addr := m.nodeAddr
	m.mu.Unlock()
	node, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	for _, f := range []string{"serveNode", "awaitChange", "serveFrames"} {
		waitGoroutine(t, f)
	}

	began := time.Now()
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after its context ended")
	}
	if left := masterGoroutines(); left != "" {
		t.Fatalf("Run returned with goroutines of the master still running:\n%s", left)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run took %s to stop with three connections open", took)
	}
	// The clients see the master gone: their connections are closed.
	for _, c := range []net.Conn{idle, watcher} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("client connection after Run returned: %v (want EOF)", err)
		}
	}
}

func dialMaster(t *testing.T, sock string) net.Conn {
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// masterGoroutines is the stacks of the goroutines running a method of
// the master, "" when there are none.
func masterGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "master.(*Master).") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// waitGoroutine waits until a goroutine runs the master's method name.
func waitGoroutine(t *testing.T, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(masterGoroutines(), "master.(*Master)."+name+"(") {
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine of the master runs %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
