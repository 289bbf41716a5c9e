package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// The process tries the file until it reads, and says when (the
	// machine's uptime: the node's clock is the test's).
	script := `while ! cat ` + late + ` >/dev/null 2>&1; do sleep 0.1; done; read up _ </proc/uptime; echo "read at $up"; cat ` + late
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
	time.Sleep(3 * time.Second)
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	back := strings.Fields(string(b))[0]
	syscall.Kill(ghost, syscall.SIGCONT)
	if err := waitCmd(cmd, 30*time.Second); err != nil {
		t.Errorf("bpsh as nobody: %v; stderr %q", err, errb.String())
	}
	var at float64
	if _, err := fmt.Sscanf(out.String(), "read at %g\nwritten after the master restarted\n", &at); err != nil {
		t.Fatalf("the kept process's output: %q (%v)", out.String(), err)
	}
	if want, _ := strconv.ParseFloat(back, 64); at > want {
		t.Errorf("the kept process read the new file at %.2f, after its ghost came back (%.2f): refused until then", at, want)
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
