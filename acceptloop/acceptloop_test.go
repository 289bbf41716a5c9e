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
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

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
