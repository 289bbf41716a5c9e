package integration

import (
	"syscall"
	"testing"
)

// TestDeathSignal: with one process, bpsh dies of the signal that killed
// it (a parent's wait sees WIFSIGNALED, Python's returncode -15; shells
// still print 143); with several, it exits 128+signal as before.
func TestDeathSignal(t *testing.T) {
	c := startCluster(t, 2)
	one := c.command("bpsh", "0", "sh", "-c", "kill -TERM $$")
	one.Dir = "/"
	err := one.Run()
	ws, _ := one.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM || ws.CoreDump() {
		t.Errorf("bpsh 0 (killed by SIGTERM): %v, want bpsh killed by SIGTERM, no core", err)
	}
	two := c.command("bpsh", "0,1", "sh", "-c", "kill -TERM $$")
	two.Dir = "/"
	err = two.Run()
	if ws, _ := two.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 143 {
		t.Errorf("bpsh 0,1 (both killed by SIGTERM): %v, want exit 143", err)
	}
	// A core-dumping signal: the same signal, and no core of bpsh.
	quit := c.command("bpsh", "0", "sh", "-c", "kill -QUIT $$")
	quit.Dir = "/"
	err = quit.Run()
	if ws, _ := quit.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGQUIT || ws.CoreDump() {
		t.Errorf("bpsh 0 (killed by SIGQUIT): %v, want bpsh killed by SIGQUIT, no core", err)
	}
}
