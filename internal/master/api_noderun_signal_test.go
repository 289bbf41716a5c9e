package master

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestSignalNodeGhostBeforeHello: OpSignal for a ghost the master started
// for a caller on a node, before the ghost's hello (no process of the
// tables yet), reaches the ghost, for its user or root only, and not once
// it is reaped. It used to fail with "Invalid process ID", which bpsh on
// the node dropped. A child sleep stands in for the ghost.
func TestSignalNodeGhostBeforeHello(t *testing.T) {
	m := &Master{procs: map[int]*proc{}}
	ghost := exec.Command("sleep", "30")
	if err := ghost.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ghost.Process.Kill() })
	pid := ghost.Process.Pid
	m.nodeRuns.addGhost(pid, 1000)
	sig := func(uid uint32) error {
		return m.signalRequest(localapi.Cred{UID: uid, PID: 1}, &localapi.Signal{PID: pid, Signal: int(syscall.SIGTERM)})
	}
	if err := sig(1001); !errors.Is(err, errInvalidProcess) {
		t.Errorf("another user's signal to the ghost: %v, want %v", err, errInvalidProcess)
	}
	if err := sig(1000); err != nil {
		t.Errorf("its user's signal to the ghost before its hello: %v, want it sent", err)
	}
	done := make(chan error, 1)
	go func() { done <- ghost.Wait() }()
	select {
	case <-done:
		if ws := ghost.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("ghost ended %v, want by SIGTERM", ghost.ProcessState)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ghost still running 5 s after its user's SIGTERM")
	}
	m.nodeRuns.ghostReaped(pid)
	if err := sig(1000); !errors.Is(err, errInvalidProcess) {
		t.Errorf("signal to a reaped ghost: %v, want %v", err, errInvalidProcess)
	}
}
