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
// maxconns (4 here), but by four times it: of 20 processes a remote
// shell forks, 16 get ghosts at once, and the rest run without one at
// once too (not after forkWait each), the master saying why.
func TestSpaceDescendantConns(t *testing.T) {
	spaceOn(t)
	conf := t.TempDir() + "/config"
	os.WriteFile(conf, []byte("maxconns 4\n"), 0o644)
	c := startCluster(t, 1, "--config", conf)
	bin := userBinary(t)
	const user = 65534
	cmd := exec.Command(bin, "bpsh", "0", "/bin/sh", "-c", `for i in $(seq 20); do sleep 60 & done; echo forked; wait`)
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
	if l, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(l) != "forked" {
		t.Fatalf("the remote shell said %q", l)
	}
	if d := time.Since(began); d > 4*time.Second {
		t.Errorf("20 forks took %v: some waited for a ghost the master refused", d)
	}
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	// The shell's ghost and 16 of its children's.
	if len(procs) != 17 {
		t.Errorf("%d processes in the master's table, want 17: the shell and 16 of its 20 children (4 times maxconns 4)", len(procs))
	}
	c.waitLog(t, regexp.MustCompile(fmt.Sprintf(`user %d holds 16 descendant ghosts already \(4 times maxconns\)`, user)))
}
