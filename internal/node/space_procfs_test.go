package node

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestForkReadsAllocateNothing: what the process space reads of /proc at
// every fork and exit (stat, status) makes no garbage: the handler runs
// it for each of a node's forks.
func TestForkReadsAllocateNothing(t *testing.T) {
	if raceOn {
		t.Skip("the race detector's build allocates where a plain one does not")
	}
	pid := os.Getpid()
	for name, f := range map[string]func(){
		"readProcState":  func() { readProcState(pid) },
		"alive":          func() { alive(pid) },
		"tgidOf":         func() { tgidOf(pid) },
		"ppidOf":         func() { ppidOf(pid) },
		"sigchldIgnored": func() { sigchldIgnored(pid) },
		"sigCaught":      func() { sigCaught(pid, syscall.SIGUSR1) },
		"parentState":    func() { parentState(pid) },
	} {
		if n := testing.AllocsPerRun(50, f); n != 0 {
			t.Errorf("%s(self): %v allocations a call, want 0", name, n)
		}
	}
}

// TestSigchldIgnoredManyGroups: a process with many supplementary groups
// has its signal masks past the first 2 kB of /proc/PID/status; they are
// read all the same (a read cut there found no SigIgn line, and took a
// SIGCHLD ignored for one not ignored).
func TestSigchldIgnoredManyGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setting groups wants root")
	}
	groups := make([]uint32, 1000)
	for i := range groups {
		groups[i] = 100000 + uint32(i)
	}
	cmd := exec.Command("/bin/bash", "-c", "trap '' CHLD; exec sleep 30") // dash does not set SIG_IGN for trap '' CHLD
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Groups: groups}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	for range 200 { // until bash has exec'd sleep
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); len(b) <= 2048 {
		t.Fatalf("status of %d bytes: not past 2 kB", len(b))
	}
	if !sigchldIgnored(pid) {
		t.Error("sigchldIgnored of a process with 1000 groups = false, want true")
	}
}
