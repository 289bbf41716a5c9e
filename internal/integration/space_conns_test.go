package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpaceDescendantConns: a user's descendant ghosts are not bounded by
// maxconns (4 here), but by four times it: of 20 forks of a remote
// program, 16 make children with ghosts, and the rest fail at once with
// EAGAIN (not after forkWait each), as past RLIMIT_NPROC, so that nothing
// runs without a ghost; the master says why.
func TestSpaceDescendantConns(t *testing.T) {
	spaceOn(t)
	conf := t.TempDir() + "/config"
	os.WriteFile(conf, []byte("maxconns 4\n"), 0o644)
	c := startCluster(t, 1, "--config", conf)
	bin := userBinary(t)
	const user = 65534
	// Python, not a shell: dash ends at its first fork that fails.
	const prog = `
import errno, os
made = refused = 0
for i in range(20):
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "60"])
        made += 1
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
        refused += 1
print("forked", made, "refused", refused, flush=True)
os.wait()
`
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3")
	}
	cmd := exec.Command(bin, "bpsh", "0", "python3", "-c", prog)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: user, Gid: user, Groups: []uint32{user}},
		Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if procs, err := c.client().Procs(); err == nil {
			for _, p := range procs {
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		c.waitNoProcs()
	})
	if l, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(l) != "forked 16 refused 4" {
		t.Fatalf("the remote program said %q, want %q", l, "forked 16 refused 4")
	}
	if d := time.Since(began); d > 4*time.Second {
		t.Errorf("20 forks took %v: some waited for a ghost the master refused", d)
	}
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	// The program's ghost and its 16 children's.
	if len(procs) != 17 {
		t.Errorf("%d processes in the master's table, want 17: the program and its 16 children (4 times maxconns 4)", len(procs))
	}
	c.waitLog(t, regexp.MustCompile(fmt.Sprintf(`user %d holds 16 descendant ghosts already \(4 times maxconns\)`, user)))
}
