package node

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// family starts sh running script, which prints the PID of a child of
// its; the shell and the child are killed when the test ends.
func family(t *testing.T, script string) (parent, child int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	c, perr := strconv.Atoi(strings.TrimSpace(line))
	t.Cleanup(func() {
		syscall.Kill(c, syscall.SIGKILL)
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err != nil || perr != nil {
		t.Fatalf("sh %q printed %q: %v %v", script, line, err, perr)
	}
	return cmd.Process.Pid, c
}

// TestExitHeldWhileParentRuns: a child's exit is held while its parent
// runs (it may enter a fork not read yet), and goes, the child waited
// for, once the handler takes a notification of the parent.
func TestExitHeldWhileParentRuns(t *testing.T) {
	parent, child := family(t, `sleep 100 & echo $!; while :; do :; done`)
	answered := make(chan uint64, 1)
	h := newExitHolds(func(id uint64) {
		answered <- id
		syscall.Kill(child, syscall.SIGKILL) // as the exit_group would end it
	}, nil)
	h.forker(parent)
	h.exit(uint32(child), 7)
	select {
	case id := <-answered:
		t.Fatalf("exit %d answered while the parent runs", id)
	case <-time.After(holdLook / 2):
	}
	h.taken(uint32(parent))
	select {
	case id := <-answered:
		if id != 7 {
			t.Errorf("answered %d, want 7", id)
		}
	default:
		t.Fatal("exit not answered once the parent's notification was taken")
	}
	if alive(child) {
		t.Errorf("taken returned before the child %d ended", child)
	}
}

// TestExitHeldAtMost: a held exit goes after holdMax without a word
// of the parent.
func TestExitHeldAtMost(t *testing.T) {
	parent, child := family(t, `sleep 100 & echo $!; while :; do :; done`)
	answered := make(chan uint64, 1)
	h := newExitHolds(func(id uint64) { answered <- id }, nil)
	h.forker(parent)
	began := time.Now()
	h.exit(uint32(child), 9)
	select {
	case <-answered:
		if d := time.Since(began); d < holdMax {
			t.Errorf("answered after %v, before holdMax %v", d, holdMax)
		}
	case <-time.After(holdMax + time.Second):
		t.Fatalf("exit still held %v after holdMax", holdMax+time.Second)
	}
}

// TestExitNotHeld: a child whose parent sleeps in a call that is not
// notified (sh's wait), or is no forker of the listener, goes at once.
func TestExitNotHeld(t *testing.T) {
	parent, child := family(t, `sleep 100 & echo $!; wait`)
	deadline := time.Now().Add(5 * time.Second)
	for mayCallUnread(parent) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, forker := range []bool{false, true} {
		answered := make(chan uint64, 1)
		h := newExitHolds(func(id uint64) { answered <- id }, nil)
		if forker {
			h.forker(parent)
		}
		h.exit(uint32(child), 1)
		select {
		case <-answered:
		default:
			t.Errorf("forker %v: exit held while the parent sleeps in wait", forker)
		}
	}
	if mayCallUnread(1 << 30) {
		t.Error("a PID that is no process may call")
	}
}

// TestParentStateKinds: wchan read first tells a wait, another sleep and
// a running process apart, and a PID gone counts as asleep.
func TestParentStateKinds(t *testing.T) {
	// sh waits for a command in wait4 (its wait builtin sleeps in
	// sigsuspend, elsewhere).
	waits, _ := family(t, `sleep 100 & echo $!; sleep 100`)
	sleeps, _ := family(t, `sleep 100 & echo $!; exec sleep 100`)
	runs, _ := family(t, `sleep 100 & echo $!; while :; do :; done`)
	want := map[int]int{waits: parentWaits, sleeps: parentAsleep, runs: parentMayCall, 1 << 30: parentAsleep}
	for pid, w := range want {
		deadline := time.Now().Add(5 * time.Second)
		got := parentState(pid)
		for got != w && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			got = parentState(pid)
		}
		if got != w {
			t.Errorf("parentState(%d) = %d, want %d", pid, got, w)
		}
	}
}
