package master

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// epollsWatching counts the epolls of this process that watch fd: Go's
// poller's among them.
func epollsWatching(t *testing.T, fd int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	want := fmt.Sprintf("tfd: %8d ", fd)
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, want) {
				n++
			}
		}
	}
	return n
}

// TestGhostSocketOutsidePoller: a ghost's socket is in no epoll of the
// master but the ghost watch's. In Go's poller it was watched for
// EPOLLOUT too, and every command its ghost read woke a thread of the
// master blocked in the poller (three a fork).
func TestGhostSocketOutsidePoller(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	pc, err := pairConn(fds[0], false)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if n := epollsWatching(t, pc.fd); n != 0 {
		t.Errorf("a descendant's socket is in %d epolls, want none before the watch has it", n)
	}

	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: t.TempDir() + "/s", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	uc, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := uc.SyscallConn()
	var ufd int
	rc.Control(func(f uintptr) { ufd = int(f) })
	if n := epollsWatching(t, ufd); n != 1 {
		t.Fatalf("an accepted connection is in %d epolls, want 1 (Go's poller): the count is wrong", n)
	}
	sc, err := ownConn(uc)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if n := epollsWatching(t, sc.fd); n != 0 {
		t.Errorf("an accepted ghost's socket is in %d epolls, want none before the watch has it", n)
	}
	if _, err := sc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	if _, err := io.ReadFull(d, b[:]); err != nil || string(b[:]) != "ping" {
		t.Errorf("read %q, %v through an owned connection, want ping", b, err)
	}
}

// TestGhostSocketFullWaits: a write to a ghost that does not read waits
// (a goroutine parked, no thread) until the ghost reads, woken by the
// ghost watch, and gives up at once when the connection is closed.
func TestGhostSocketFullWaits(t *testing.T) {
	w := runningWatch(t, nil)
	conn := func() (*sockConn, *os.File) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pairConn(fds[0], false)
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.add(c.fd, c.poke)
		if err != nil {
			t.Fatal(err)
		}
		c.watchedBy(w, id)
		return c, os.NewFile(uintptr(fds[1]), "ghost")
	}

	c, peer := conn()
	defer peer.Close()
	defer c.Close()
	big := bytes.Repeat([]byte("x"), 4<<20) // far past the socket's buffer
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		t.Fatalf("a write of 4 MB to a ghost that reads nothing returned (%v), want it to wait", err)
	case <-time.After(100 * time.Millisecond):
	}
	got, err := io.ReadAll(io.LimitReader(peer, int64(len(big))))
	if err != nil || len(got) != len(big) {
		t.Fatalf("the ghost read %d of %d bytes (%v)", len(got), len(big), err)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Errorf("write = %v once the ghost read it all", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write still waiting 10 s after the ghost read it all")
	}

	c2, peer2 := conn()
	defer peer2.Close()
	go func() {
		_, err := c2.Write(big)
		wrote <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c2.Close()
	select {
	case err := <-wrote:
		if err == nil {
			t.Error("a write to a closed connection succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write waiting for room did not give up when its connection was closed")
	}
}

// TestDrainingGhostNotLingering: the socket of a ghost that drains
// (ghost.ForkedDrains) is closed as soon as the master has told it how to
// die, with no wait for its hang-up: it reads the command, then EOF.
func TestDrainingGhostNotLingering(t *testing.T) {
	w := runningWatch(t, nil)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "ghost")
	defer peer.Close()
	c, err := pairConn(fds[0], true)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.add(c.fd, c.poke)
	if err != nil {
		t.Fatal(err)
	}
	c.watchedBy(w, id)
	c.Write([]byte("exit 7.."))
	peer.Write([]byte("a signal")) // crossed the end: dropped
	w.linger(id, c.fd, c)
	if !c.isClosed() {
		t.Error("a draining ghost's socket lingers, want it closed at once")
	}
	w.mu.Lock()
	left := len(w.ready)
	w.mu.Unlock()
	if left != 0 {
		t.Errorf("%d sockets in the watch, want 0", left)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(peer)
	if string(b) != "exit 7.." {
		t.Errorf("the ghost read %q (%v), want its command, then the end", b, err)
	}
	if _, err := peer.Write([]byte("x")); err == nil {
		t.Error("the ghost's write succeeded after the master closed its end")
	}
}

// runningWatch is a ghost watch serving in a goroutine, set up first by
// setup (nil: as made), closed and waited for when the test ends.
func runningWatch(t *testing.T, setup func(*ghostWatch)) *ghostWatch {
	t.Helper()
	w, err := newGhostWatch()
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(w)
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	t.Cleanup(func() {
		w.close()
		<-done
	})
	return w
}
