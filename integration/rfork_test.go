package integration

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRfork: bproc_rfork from a C program (built here against libbproc)
// to each local node: each child finds its memory as it was and runs on
// its node with its PID; the parent's wait() gets each exit status, a
// signal to a child's PID reaches it, and the errors are BProc's.
func TestRfork(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"master-view", nil}, {"diskless", []string{"--diskless"}}} {
		t.Run(mode.name, func(t *testing.T) {
			if _, err := exec.LookPath("gcc"); err != nil {
				t.Skip("needs gcc")
			}
			c := startCluster(t, 2, mode.args...)
			// Nodes map the program from the master's files: not in /tmp,
			// which a node has its own of.
			dir := publicTempDir(t)
			bin := filepath.Join(dir, "rfork")
			root := sourceRoot(t)
			args := []string{"-std=c11", "-O1", "-pthread", "-I", filepath.Join(root, "libbproc"), "-o", bin,
				filepath.Join(root, "integration/testdata/rfork.c"), filepath.Join(libbprocDir(t), "libbproc.a")}
			if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
				t.Fatalf("gcc: %v\n%s", err, out)
			}
			cmd := c.command("", "")
			cmd.Path, cmd.Args = bin, []string{bin, "2"}
			r := c.runCmd(cmd, "")
			want := []string{"child 0 exited 10", "child 1 exited 11", "on n0 ok", "on n1 ok", "signalled child killed by 10",
				"moved itself to n1, memory intact", "threaded process refused: Invalid argument",
				"execmoved to n1", "parent ok"}
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("rfork program: exit %d, stdout:\n%s\nstderr:\n%s\nwant %q", r.code, r.stdout, r.stderr, w)
					break
				}
			}
		})
	}
}
