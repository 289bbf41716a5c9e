package node

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"unsafe"
)

// TestActFlags: sa_flags is read from a struct kernel_sigaction in a
// process's memory.
func TestActFlags(t *testing.T) {
	act := [4]uint64{1, saNoCldWait | 0x10000000, 0, 0} // SA_RESTART
	got, err := actFlags(os.Getpid(), uint64(uintptr(unsafe.Pointer(&act))))
	if err != nil || got != act[1] {
		t.Errorf("actFlags: %#x, %v; want %#x", got, err, act[1])
	}
	if _, err := actFlags(os.Getpid(), 8); err == nil {
		t.Error("actFlags of an unmapped address: no error")
	}
}

// TestNoCldWaitNote: a note holds until the process execs (an exec resets
// the flags) or notes it off, and passes to a child.
func TestNoCldWaitNote(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "read x; exec sleep 100")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	h := newExitHolds(func(uint64) {}, nil)
	if h.noCldWait(pid) {
		t.Fatal("noted before any note")
	}
	h.noteNoWait(pid, true)
	if !h.noCldWait(pid) {
		t.Fatal("not noted")
	}
	h.inheritNoWait(pid, 1<<22)
	if _, ok := h.noWait[1<<22]; !ok {
		t.Error("a child did not inherit the note")
	}
	in.Write([]byte("\n"))
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return string(b) == "sleep\n"
	})
	if h.noCldWait(pid) {
		t.Error("still noted after an exec")
	}
	h.noteNoWait(pid, true)
	h.noteNoWait(pid, false)
	if h.noCldWait(pid) {
		t.Error("still noted after a note off")
	}
}
