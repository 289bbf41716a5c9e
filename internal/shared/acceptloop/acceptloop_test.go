package acceptloop

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestServeRidesOutEMFILE: with no descriptor left for an accepted
// connection, Serve warns and waits; once descriptors are free again the
// waiting client is served.
func TestServeRidesOutEMFILE(t *testing.T) {
	sock, l, old := listenKeepLimit(t)

	// The client connects first; then no descriptor is left for accept.
	client, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	low := syscall.Rlimit{Cur: 0, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	warned := make(chan error, 100)
	served := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(l, func(c net.Conn) { c.Close(); close(served) }, func(err error) {
			select {
			case warned <- err:
			default:
			}
		})
	}()
	select {
	case err := <-warned:
		if !Passing(err) {
			t.Errorf("warned of %v, which does not pass", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning while out of descriptors")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the client was not served once descriptors were free")
	}
	l.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

// TestServeFullSpare: out of descriptors, the spare one takes the waiting
// connection and full decides (closes it here): the client hears at once,
// it is not left in the backlog, and the loop serves the next once there
// is room.
func TestServeFullSpare(t *testing.T) {
	sock, l, old := listenKeepLimit(t)
	served, fulls := make(chan struct{}, 10), make(chan struct{}, 10)
	warns := make(chan error, 1000)
	done := make(chan error, 1)
	go func() {
		done <- ServeFull(l, func(c net.Conn) { c.Close(); served <- struct{}{} },
			func(c net.Conn) { c.Close(); fulls <- struct{}{} },
			func(err error) { warns <- err })
	}()
	time.Sleep(100 * time.Millisecond) // the loop holds its spare and waits in accept
	client, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	<-served
	// The next client's socket exists before the descriptors run out; it
	// connects after.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// No descriptor left: the lowest free one is the limit.
	free, err := syscall.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(free)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(free), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fulls:
	case <-time.After(5 * time.Second):
		t.Fatal("full was not given the connection that came with no descriptor left")
	}
	// Closed at once: the client reads EOF, not a wait in the backlog.
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
	if n, err := syscall.Read(fd, make([]byte, 1)); n != 0 || err != nil {
		t.Errorf("the refused client read %d, %v; want EOF", n, err)
	}
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	time.Sleep(200 * time.Millisecond)
	if n := len(warns); n > 5 {
		t.Errorf("%d warnings: the loop spins", n)
	}
	l.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeFull after Close = %v, want nil", err)
	}
}

// listenKeepLimit listens on a socket of the test's, and puts the
// descriptor limit (old) back when the test ends: the tests lower it.
func listenKeepLimit(t *testing.T) (sock string, l net.Listener, old syscall.Rlimit) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	return sock, l, old
}
