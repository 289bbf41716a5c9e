package node

import (
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestSignalHeldWhileRunning: a relayed signal that a running process
// catches is held (it may enter a fork not read yet) until the handler
// takes a notification of it, which sends it before returning.
func TestSignalHeldWhileRunning(t *testing.T) {
	_, p := family(t, `trap : USR1; echo $$; while :; do :; done`)
	var s sigHolds
	h := newExitHolds(func(uint64) {}, &s)
	defer h.close()
	waitFor(t, func() bool { st, _ := procfs.ReadStatus(p); return st.SigCgt&(1<<(syscall.SIGUSR1-1)) != 0 })
	sent := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		s.send(p, syscall.SIGUSR1, func() { close(sent) })
		close(returned)
	}()
	select {
	case <-sent:
		t.Fatal("signal sent while its process runs")
	case <-time.After(holdLook * 3):
	}
	h.taken(uint32(p))
	select {
	case <-sent:
	default:
		t.Fatal("signal not sent once its process's notification was taken")
	}
	<-returned
}

// TestSignalHeldAtMost: a held signal goes after holdMax without a
// notification; one the process does not catch goes at once.
func TestSignalHeldAtMost(t *testing.T) {
	_, p := family(t, `trap : USR1; echo $$; while :; do :; done`)
	var s sigHolds
	waitFor(t, func() bool { st, _ := procfs.ReadStatus(p); return st.SigCgt&(1<<(syscall.SIGUSR1-1)) != 0 })
	began := time.Now()
	s.send(p, syscall.SIGUSR2, func() {})
	if d := time.Since(began); d >= holdLook {
		t.Errorf("a signal not caught took %v", d)
	}
	began = time.Now()
	s.send(p, syscall.SIGUSR1, func() {})
	if d := time.Since(began); d < holdMax || d > holdMax+time.Second {
		t.Errorf("a held signal went after %v, want holdMax %v", d, holdMax)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not so after 5 s")
		}
	}
}
