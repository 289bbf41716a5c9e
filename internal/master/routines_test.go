package master

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/wire"
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
	// A node that connects and says nothing (its handshake may take 30 s).
	m.mu.Lock()
	addr := m.nodeAddr
	m.mu.Unlock()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A node that is up: its boot token, its key, its hello.
	up := connectNode(t, m, addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		state := m.nodes[0].state
		m.mu.Unlock()
		if state == localapi.StateUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 0 is %s, not up", state)
		}
	}
	// A client waiting for the node table to change (a minute at most).
	watcher := dialMaster(t, sock)
	if err := localapi.WriteFrame(watcher, localapi.Request{Op: localapi.OpWatch}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"serveNode", "awaitChange", "serveFrames", "nodeRequests", "pingNode"} {
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
	// The clients and nodes see the master gone: their connections are closed.
	if err := up.Wait(); err == nil {
		t.Error("the node's connection ended without an error")
	}
	for _, c := range []net.Conn{idle, watcher} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("client connection after Run returned: %v (want EOF)", err)
		}
	}
}

// connectNode connects node 0 to m as a node's first connection of a
// boot does, and says hello; it answers the master's requests.
func connectNode(t *testing.T, m *Master, addr string) ssh.Conn {
	tok, err := m.tokens.Mint(0, nil, netip.Addr{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := nodeauth.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: wire.User(0), HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Auth: []ssh.AuthMethod{ssh.Password(nodeauth.Credential{Token: tok, Key: key.PublicKey()}.String())}}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, chans, reqs, err := ssh.NewClientConn(c, addr, cfg)
	if err != nil {
		c.Close()
		t.Fatalf("node handshake: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	go ssh.DiscardRequests(reqs)
	go func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "a test node")
		}
	}()
	if ok, _, err := conn.SendRequest(wire.ReqHello, true, wire.Encode(wire.NodeHello{Version: "bproc", Hostname: "test"})); err != nil || !ok {
		t.Fatalf("hello: %v %v", ok, err)
	}
	return conn
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
