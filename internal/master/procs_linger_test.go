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
