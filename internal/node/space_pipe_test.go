package node

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestStatPPid: the parent is read from /proc/PID/stat past a command
// name that holds spaces and parentheses.
func TestStatPPid(t *testing.T) {
	if pp, err := statPPid(os.Getpid()); err != nil || pp != os.Getppid() {
		t.Fatalf("statPPid(self) = %d, %v; want %d", pp, err, os.Getppid())
	}
	dir := t.TempDir()
	odd := dir + "/a) (b c"
	if err := os.Symlink("/bin/sleep", odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if pp, err := statPPid(cmd.Process.Pid); err != nil || pp != os.Getpid() {
		t.Fatalf("statPPid(%q) = %d, %v; want %d", odd, pp, err, os.Getpid())
	}
	if _, err := statPPid(1 << 30); err == nil {
		t.Fatal("statPPid of no process: no error")
	}
}

// TestForkDoneSettle: settle hurries the finder (a poke ends its nap at
// once) and returns only once the finder is done.
func TestForkDoneSettle(t *testing.T) {
	d := &forkDone{poke: make(chan struct{}, 1), done: make(chan struct{})}
	fc := &forkCall{poke: d.poke}
	woke := make(chan bool, 1)
	go func() {
		defer close(d.done)
		woke <- fc.nap(time.Minute)
	}()
	start := time.Now()
	d.settle()
	if !<-woke {
		t.Fatal("the nap ended without the poke")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("settle took %v", took)
	}
	var nilDone *forkDone
	nilDone.settle() // nothing to wait for
}
