package master

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestCloseGhostLingerMemory: a ghost connection lingering for its ghost
// to hang up holds no read buffer of kilobytes. 2,000 descendants ending
// at once kept an 8 kB buffer each (io.Discard's) until their ghosts were
// gone.
func TestCloseGhostLingerMemory(t *testing.T) {
	const n = 200
	var peers []*os.File
	var conns []*net.UnixConn
	defer func() {
		for _, f := range peers {
			f.Close()
		}
	}()
	for range n {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fds[0]), "master-side")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			syscall.Close(fds[1])
			t.Fatal(err)
		}
		conns = append(conns, c.(*net.UnixConn))
		peers = append(peers, os.NewFile(uintptr(fds[1]), "ghost-side"))
	}
	before := liveHeap()
	for _, c := range conns {
		closeGhost(c) // the ghosts (peers) stay: every connection lingers
	}
	time.Sleep(200 * time.Millisecond) // each lingering goroutine is in its read
	per := (liveHeap() - before) / n
	t.Logf("%d B of heap per lingering ghost connection", per)
	if per > 1024 {
		t.Errorf("a lingering ghost connection holds %d B of heap, want under 1 kB", per)
	}
	// The ghosts hang up: every connection is closed.
	for _, f := range peers {
		f.Close()
	}
	peers = nil
	for _, c := range conns {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			f, err := c.File()
			if err != nil {
				break // closed
			}
			f.Close()
			if time.Now().After(deadline) {
				t.Fatal("a ghost connection still open 10 s after its ghost hung up")
			}
		}
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestLingerInWatch: an ended process's ghost socket the ghost watch has
// lingers in the watch, with no goroutine of its own (closeGhost parked
// one on each), is read until its ghost hangs up and then let go, and
// is closed after lingerFor if the ghost never hangs up.
func TestLingerInWatch(t *testing.T) {
	const n = 100
	w := runningWatch(t, func(w *ghostWatch) {
		w.lingerFor = time.Second
	})
	type end struct {
		c    ghostConn
		peer *os.File
		id   uint64
		fd   int
	}
	var ends []end
	defer func() {
		for _, e := range ends {
			e.peer.Close()
		}
	}()
	for range n {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pairConn(fds[0], false)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := c.SyscallConn()
		var fd int
		rc.Control(func(f uintptr) { fd = int(f) })
		id, err := w.add(fd, func() {})
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end{c: c, peer: os.NewFile(uintptr(fds[1]), "ghost"), id: id, fd: fd})
	}
	before := runtime.NumGoroutine()
	for _, e := range ends {
		w.linger(e.id, e.fd, e.c)
	}
	if more := runtime.NumGoroutine() - before; more > 2 {
		t.Errorf("%d goroutines more for %d lingering ghost sockets, want none", more, n)
	}
	// The first half say something, then hang up; the rest stay.
	var b [8]byte
	for _, e := range ends[:n/2] {
		if k, _ := e.peer.Read(b[:]); k != 0 {
			t.Fatal("the ghost read something after the master's end, want EOF")
		}
		e.peer.Write(b[:])
		e.peer.Close()
	}
	left := func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.ready)
	}
	for deadline := time.Now().Add(500 * time.Millisecond); left() != n/2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := left(); got != n/2 {
		t.Errorf("%d ghost sockets in the watch once %d of %d hung up, want %d", got, n/2, n, n/2)
	}
	// The rest are let go after lingerFor: their ghosts' writes fail.
	time.Sleep(w.lingerFor + 500*time.Millisecond)
	if got := left(); got != 0 {
		t.Errorf("%d ghost sockets in the watch after lingerFor, want 0", got)
	}
	for i, e := range ends[n/2:] {
		if _, err := e.peer.Write(b[:]); err == nil {
			t.Errorf("ghost %d: its socket still open after lingerFor", i)
			break
		}
	}
}
