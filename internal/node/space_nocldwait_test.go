package node

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// FuzzParseSigMask: any status text gives a mask or an error, never a
// panic; a well-formed line gives its mask.
func FuzzParseSigMask(f *testing.F) {
	f.Add([]byte("Name:\tsh\nSigPnd:\t0000000000000000\nSigIgn:\t0000000000010000\nSigCgt:\t0000000000000002\n"), "SigIgn:", uint64(0x10000))
	f.Add([]byte("SigIgn:\t1\n"), "SigIgn:", uint64(1)) // no newline before: not found
	f.Add([]byte("\nSigCgt:\tzz\n"), "SigCgt:", uint64(0))
	f.Add([]byte("\nSigCgt:"), "SigCgt:", uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, key string, m uint64) {
		parseSigMask(b, key)
		if strings.ContainsAny(key, "\n") || key == "" {
			return
		}
		// The only newline before the key's line is its own.
		line := append(append([]byte("X:\t1\n"), key...), []byte("\t"+strconv.FormatUint(m, 16)+"\n")...)
		if got, err := parseSigMask(line, key); err != nil || got != m {
			t.Errorf("parseSigMask(%q, %q) = %#x, %v; want %#x", line, key, got, err, m)
		}
	})
}
