package integration

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestMoveErrors: a move that cannot be made leaves the process where it
// was, with its memory, and says why in BProc's words: a node that is
// down, one the caller may not use, one that dies during the move.
func TestMoveErrors(t *testing.T) {
	c := startCluster(t, 2)
	prog := testProgram(t, "movefail")
	movefail := func(t *testing.T, cred *syscall.Credential, node, mb string) result {
		t.Helper()
		cmd := c.command("", "")
		cmd.Path, cmd.Args = prog, []string{prog, node, mb}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return c.runCmd(cmd, "")
	}
	bpctl := func(t *testing.T, args ...string) {
		t.Helper()
		if r := c.run("", "bpctl", args...); r.code != 0 {
			t.Fatalf("bpctl %v: exit %d %s", args, r.code, r.stderr)
		}
	}

	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}
	// Unavailable is down to users (root may still look into it).
	t.Run("node down", func(t *testing.T) {
		bpctl(t, "-S", "1", "-s", "unavailable")
		defer bpctl(t, "-S", "1", "-s", "up")
		r := movefail(t, nobody, "1", "4")
		if r.code != 0 || !strings.Contains(r.stdout, "refused: Node is down") || !strings.Contains(r.stdout, "memory intact") {
			t.Errorf("move to an unavailable node: exit %d, %q %q; want refused: Node is down, memory intact", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("permission denied", func(t *testing.T) {
		bpctl(t, "-S", "1", "-m", "0100") // its owner, root, only
		defer bpctl(t, "-S", "1", "-m", "0111")
		r := movefail(t, nobody, "1", "4")
		if r.code != 0 || !strings.Contains(r.stdout, "refused: Permission denied") || !strings.Contains(r.stdout, "memory intact") {
			t.Errorf("move by nobody to a node of mode 0100: exit %d, %q %q; want refused: Permission denied, memory intact", r.code, r.stdout, r.stderr)
		}
		if r := movefail(t, nobody, "0", "4"); r.code != 3 || !strings.Contains(r.stdout, "moved") {
			t.Errorf("move by nobody to node 0 (mode 0111): exit %d, %q %q; want moved", r.code, r.stdout, r.stderr)
		}
	})

	// 1 GB takes about a second to send: node 1's bpslave is killed once
	// part of the image is there (the process it rebuilds grows as the
	// image comes: bpslave writes it in as it reads).
	t.Run("node dies during the move", func(t *testing.T) {
		slave := c.nodePID(t, 1)
		before := rssTree(slave)
		cmd := c.command("", "")
		cmd.Path, cmd.Args = prog, []string{prog, "1", "1024"}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "moving" {
			t.Fatalf("movefail said %q, want moving", lines.Text())
		}
		for end := time.Now().Add(30 * time.Second); rssTree(slave) < before+64<<20; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("node 1's bpslave and its children did not grow by 64 MB in 30 s (from %d bytes)", before)
			}
		}
		if err := syscall.Kill(slave, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var said []string
		for lines.Scan() {
			said = append(said, lines.Text())
		}
		err = cmd.Wait()
		text := strings.Join(said, "\n")
		if err != nil || !strings.Contains(text, "refused: Slave node died") || !strings.Contains(text, "memory intact") {
			t.Errorf("move to a node killed during it: %v, %q; want refused: Slave node died, memory intact", err, text)
		}
		t.Logf("movefail: %s", text)
		c.waitState(t, "1", "up") // the master starts it again
	})
}

// rssOf is a process's resident memory in bytes (0 when it is gone).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rssTree is the resident memory of a process and its children.
func rssTree(pid int) int64 {
	n := rssOf(pid)
	// Each thread's children are its own: bpslave's are any thread's.
	set, _ := procfs.Children(pid)
	for c := range set {
		n += rssOf(c)
	}
	return n
}
