package master

import (
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopLocalUnkillable: a local node that even SIGKILL does not end (a
// process of it stuck in the kernel) is given up after the kill's wait,
// instead of holding the master's stop for good.
func TestStopLocalUnkillable(t *testing.T) {
	var sent []syscall.Signal
	run := &localRun{pid: 4242, done: make(chan error), signal: func(s syscall.Signal) { sent = append(sent, s) }}
	got := make(chan error, 1)
	go func() {
		got <- stopLocalWithin(run, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Millisecond, 50*time.Millisecond)
	}()
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "did not end after SIGKILL") {
			t.Errorf("stopLocal of an unkillable node = %v; want it given up", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("stopLocal still waits for a node SIGKILL does not end")
	}
	if len(sent) != 2 || sent[0] != syscall.SIGTERM || sent[1] != syscall.SIGKILL {
		t.Errorf("signals sent %v; want SIGTERM then SIGKILL", sent)
	}
}
