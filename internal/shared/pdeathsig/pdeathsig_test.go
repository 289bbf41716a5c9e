package pdeathsig

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A child started by Start outlives the exit of a locked thread that
// another goroutine used meanwhile, as a child forked by that thread
// would not.
func TestOutlivesLockedThreads(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// End many locked threads, as package asuser does.
	for range 50 {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(done)
		}()
		<-done
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the child died with the threads: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
}

// The control: a child forked by a locked thread that then exits gets
// its signal, which is what Start avoids.
func TestLockedThreadExitKillsItsChild(t *testing.T) {
	started := make(chan *exec.Cmd, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with this goroutine
		cmd := exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			started <- nil
			return
		}
		started <- cmd
	}()
	cmd := <-started
	if cmd == nil {
		return
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("child ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child outlived the thread that forked it: Pdeathsig is not per thread here")
	}
}
