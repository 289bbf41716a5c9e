package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMaxProcs: a node refuses a start beyond the config's maxprocs
// processes of one user there, with a clear error; other users and other
// nodes are not affected, and a place comes back when a process ends.
// Issue 13, finding 9.
func TestMaxProcs(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(conf, []byte("maxprocs 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 2, "--config", conf)
	bin := userBinary(t)
	sleeps := c.startBpsh(t, "--per-node", "3", "0", "sleep", "307.1")
	waitFor(t, "3 sleeps on node 0", func() bool { return len(pgrep("sleep", "307.1")) == 6 })
	r := c.run("", "bpsh", "0", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "maxprocs 3") {
		t.Errorf("a 4th process of root on node 0: exit %d %q, want refused naming maxprocs 3", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "1", "true"); r.code != 0 {
		t.Errorf("root on node 1: exit %d %q", r.code, r.stderr)
	}
	if r := c.as(t, bin, 65534, "bpsh", "0", "true"); r.code != 0 {
		t.Errorf("another user on node 0: exit %d %q", r.code, r.stderr)
	}
	sleeps.Process.Kill()
	for _, g := range children(sleeps.Process.Pid) {
		syscallKill(g)
	}
	sleeps.Wait()
	waitFor(t, "the sleeps gone", func() bool { return len(pgrep("sleep", "307.1")) == 0 })
	waitFor(t, "root may start on node 0 again", func() bool { return c.run("", "bpsh", "0", "true").code == 0 })
	if r := c.run("", "bpsh", "--per-node", "4", "0", "true"); r.code == 0 || strings.Count(r.stderr, "maxprocs 3") != 1 {
		t.Errorf("4 at once with maxprocs 3: exit %d %q, want one refused", r.code, r.stderr)
	}
}

// TestStdioFilesInView: bpsh -O and -I open their files where the process
// sees them (its view of the master's files), as the caller: -O of a
// path in the view lands there, and -I of a path that only the node's own
// root has fails. Issue 13, finding 9.
func TestStdioFilesInView(t *testing.T) {
	c := startCluster(t, 1, "--diskless")
	dir := publicTempDir(t)
	out := filepath.Join(dir, "out")
	if r := c.run("", "bpsh", "-O", out, "0", "echo", "in the view"); r.code != 0 {
		t.Fatalf("bpsh -O %s: exit %d %q", out, r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "cat", out); r.stdout != "in the view\n" {
		t.Errorf("the process's view of %s after -O: %q %q, want the output", out, r.stdout, r.stderr)
	}
	// A relative name is the process's directory's.
	if r := c.runIn(dir, "bpsh", "-O", "rel", "0", "echo", "relative"); r.code != 0 {
		t.Fatalf("bpsh -O rel: exit %d %q", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "cat", filepath.Join(dir, "rel")); r.stdout != "relative\n" {
		t.Errorf("-O rel from %s: %q %q", dir, r.stdout, r.stderr)
	}
	// The node's daemon keeps its state in its own /run/bproc, which the
	// view does not show: the cache directory is there, not in the view.
	slave := c.nodePID(t, 0)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/run/bproc/cache", slave)); err != nil {
		t.Fatal(err)
	}
	if r := c.run("", "bpsh", "-I", "/run/bproc/cache", "0", "true"); r.code == 0 {
		t.Errorf("bpsh -I of the node's own /run/bproc/cache: exit 0, want it not found in the view")
	}
	// As a user, -O where that user may not write fails.
	bin := userBinary(t)
	if r := c.as(t, bin, 65534, "bpsh", "-O", filepath.Join(dir, "nobody"), "0", "true"); r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "permission denied") {
		t.Errorf("nobody's -O in root's directory: exit %d %q, want permission denied", r.code, r.stderr)
	}
}

func syscallKill(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
