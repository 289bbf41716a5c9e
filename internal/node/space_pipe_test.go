package node

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

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
		if all, err = procfs.Children(sh); err != nil {
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
