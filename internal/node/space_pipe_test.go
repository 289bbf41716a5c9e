package node

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestPPidOf: the parent is read from /proc/PID/stat past a command
// name that holds spaces and parentheses.
func TestPPidOf(t *testing.T) {
	if pp, err := ppidOf(os.Getpid()); err != nil || pp != os.Getppid() {
		t.Fatalf("ppidOf(self) = %d, %v; want %d", pp, err, os.Getppid())
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
	if pp, err := ppidOf(cmd.Process.Pid); err != nil || pp != os.Getpid() {
		t.Fatalf("ppidOf(%q) = %d, %v; want %d", odd, pp, err, os.Getpid())
	}
	if _, err := ppidOf(1 << 30); err == nil {
		t.Fatal("ppidOf of no process: no error")
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

// TestForkCallChildren: the one-thread reading of a parent's children
// finds what the reading of all its threads finds.
func TestForkCallChildren(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 5 & sleep 5 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sh := cmd.Process.Pid
	var all, one map[int]bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if all, err = childrenOf(sh); err != nil {
			t.Fatal(err)
		}
		if one, err = (&forkCall{parent: sh, single: true}).children(); err != nil {
			t.Fatal(err)
		}
		if len(all) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(all) != 2 || len(one) != 2 {
		t.Fatalf("children of sh: %v from every thread, %v from its one", all, one)
	}
	for c := range all {
		if !one[c] {
			t.Fatalf("child %d missing from the one-thread reading %v", c, one)
		}
	}
	for c := range all {
		syscall.Kill(c, syscall.SIGKILL) // sh reaps them
	}
}
