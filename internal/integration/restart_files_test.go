package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMasterKilledDisklessFiles: a process on a diskless node whose ghost
// has not come back yet to a restarted master (stopped meanwhile) reads a
// file new to its node: the master serves it as its user's, from what the
// node kept (NodeHello.KeptUIDs), instead of failing it with EIO until the
// ghost is back.
func TestMasterKilledDisklessFiles(t *testing.T) {
	// No process space on the node: a fork there is answered by the
	// parent's ghost, which this test keeps stopped, and the shell's
	// loop would wait on it (BPROC_SPACE=0, as bpslave's environment).
	t.Setenv("BPROC_SPACE", "0")
	c, _ := startWithSlaves(t, 1, "--node-grace", "60s")
	bin := userBinary(t)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(cwd, "late-file")
	t.Cleanup(func() { os.Remove(late) })
	// nobody: a user of the user database, with no other process there.
	// The process tries the file until it reads, then becomes a sleep
	// the test can see from here (a node's processes are the machine's
	// too) while the ghost is still stopped.
	script := `while ! cat ` + late + ` >/dev/null 2>&1; do sleep 0.1; done; cat ` + late + `; exec sleep 1.25`
	cmd := exec.Command(bin, "bpsh", "0", "sh", "-c", script)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}}
	cmd.WaitDelay = 5 * time.Second
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ghost := waitStarted(t, c, 1)[0].PID
	// Until its shell has loaded and runs the loop (the libraries come
	// through the view too).
	waitFor(t, "the loop's sleep", func() bool { return nobodyRuns("sleep") })
	// The ghost stays away until the file has had its time.
	syscall.Kill(ghost, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(ghost, syscall.SIGCONT) })
	c.master.Process.Kill()
	c.master.Wait()
	c.launch()
	waitListening(t, c)
	c.waitState(t, "0", "up")
	if err := os.WriteFile(late, []byte("written after the master restarted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Read with the ghost still stopped: refused until the ghost is
	// back, the loop would go on for good. A minute: the node has to
	// dial the new master, and its view to open its files again.
	deadline := time.Now().Add(time.Minute)
	for len(pgrep("sleep", "1.25")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kept process did not read the new file in a minute while its ghost was away")
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(ghost, syscall.SIGCONT)
	if err := waitCmd(cmd, 30*time.Second); err != nil {
		t.Errorf("bpsh as nobody: %v; stderr %q", err, errb.String())
	}
	if got, want := out.String(), "written after the master restarted\n"; got != want {
		t.Errorf("the kept process's output: %q, want %q", got, want)
	}
}

// nobodyRuns says whether a process of nobody named name runs here (a
// node's processes are the machine's too).
func nobodyRuns(name string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), "Name:\t"+name+"\n") && strings.Contains(string(b), "\nUid:\t65534\t") {
			return true
		}
	}
	return false
}
