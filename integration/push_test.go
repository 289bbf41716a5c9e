package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDisklessPush: nodes whose root holds none of the master's files run
// the master's programs: the executable, its #! interpreter and its
// libraries are pushed to the node when it runs, a second run fetches
// nothing, a changed program is fetched again, and nothing reaches a node
// that the caller could not read on the master.
func TestDisklessPush(t *testing.T) {
	c := startCluster(t, 2, "--diskless")
	dir, err := os.MkdirTemp("", "bproc-push-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)

	// The node's root is its own: none of the master's top-level
	// directories but those the programs needed.
	r := c.run("", "bpsh", "0", "/bin/ls", "/")
	if r.code != 0 || strings.Contains(r.stdout, "home\n") || strings.Contains(r.stdout, "root\n") || !strings.Contains(r.stdout, "usr\n") {
		t.Errorf("bpsh 0 ls / on a diskless node: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A second run fetches nothing: the same file (inode) is used.
	inode := func() string {
		r := c.run("", "bpsh", "0", "/bin/ls", "-i", "/usr/bin/ls")
		return strings.Fields(r.stdout + " x")[0]
	}
	if a, b := inode(), inode(); a != b || a == "x" {
		t.Errorf("/usr/bin/ls on the node: inode %s, then %s; want it fetched once", a, b)
	}

	// A program of the caller's, then a changed one at the same path.
	prog := filepath.Join(dir, "prog")
	copyFile(t, "/bin/true", prog, 0o755)
	if r := c.run("", "bpsh", "1", prog); r.code != 0 {
		t.Errorf("first version: exit %d %q", r.code, r.stderr)
	}
	copyFile(t, "/bin/false", prog+".new", 0o755)
	os.Rename(prog+".new", prog)
	if r := c.run("", "bpsh", "1", prog); r.code != 1 {
		t.Errorf("changed program: exit %d %q, want 1 (false)", r.code, r.stderr)
	}
	// A script: its #! interpreter comes along.
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"script on node $BPROC_NODE\"\n"), 0o755)
	if r := c.run("", "bpsh", "1", script); r.stdout != "script on node 1\n" {
		t.Errorf("script: %q %q exit %d", r.stdout, r.stderr, r.code)
	}

	// A program only root may read: root runs it, another user gets
	// permission denied and the node never receives it.
	secret := filepath.Join(dir, "secret-tool")
	copyFile(t, "/bin/echo", secret, 0o700)
	bin := userBinary(t)
	if r := c.as(t, bin, 65534, "bpsh", "0", secret, "leaked"); r.code != 126 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("nobody running a root-only program: exit %d %q, want 126 and permission denied", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "/bin/ls", secret); r.code == 0 {
		t.Errorf("the root-only program reached the node after nobody's try: %q", r.stdout)
	}
	if r := c.run("", "bpsh", "0", secret, "root may"); r.stdout != "root may\n" {
		t.Errorf("root running its own program: %q %q", r.stdout, r.stderr)
	}
}
