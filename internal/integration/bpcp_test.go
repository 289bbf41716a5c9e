package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBpcp(t *testing.T) {
	c := startCluster(t, 3)
	dir, err := os.MkdirTemp("", "bproc-bpcp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	big := make([]byte, 5<<20)
	rand.Read(big)
	src := filepath.Join(dir, "big.bin")
	os.WriteFile(src, big, 0o640)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(src, old, old)

	cp := func(args ...string) result {
		t.Helper()
		cmd := c.command("bpcp", args...)
		cmd.Dir = "/"
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return result{out.String(), errb.String(), exitCode(err)}
	}
	// Here to a node, node to node, node back here: the same bytes.
	if r := cp("-p", src, "1:/tmp/"); r.code != 0 {
		t.Fatalf("bpcp to node 1: %d %q", r.code, r.stderr)
	}
	if r := cp("1:/tmp/big.bin", "n2:/tmp/copy.bin"); r.code != 0 {
		t.Fatalf("bpcp node 1 to node 2: %d %q", r.code, r.stderr)
	}
	back := filepath.Join(dir, "back.bin")
	if r := cp("2:/tmp/copy.bin", back); r.code != 0 {
		t.Fatalf("bpcp from node 2: %d %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(back); !bytes.Equal(b, big) {
		t.Errorf("the file that went round differs (%d bytes back)", len(b))
	}
	// -p kept mode and time on the node.
	if r := c.run("", "bpsh", "1", "stat", "-c", "%a %Y", "/tmp/big.bin"); strings.TrimSpace(r.stdout) != "640 981173106" {
		t.Errorf("bpcp -p on the node: mode and mtime %q", r.stdout)
	}
	// -r copies a tree.
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "leaf"), []byte("leaf\n"), 0o644)
	if r := cp(tree, "0:/tmp/t"); r.code != 1 || !strings.Contains(r.stderr, "is a directory (use -r)") {
		t.Errorf("bpcp of a directory without -r: %d %q", r.code, r.stderr)
	}
	if r := cp("-r", tree, "0:/tmp/t"); r.code != 0 {
		t.Fatalf("bpcp -r: %d %q", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "cat", "/tmp/t/sub/leaf"); r.stdout != "leaf\n" {
		t.Errorf("after bpcp -r, the node has %q", r.stdout)
	}

	// Errors: one line each, exit 1, nothing left at the destination.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"7:/etc/hostname", dir + "/x"}, "7: Invalid node number"},
		{[]string{"1:/no/such/file", dir + "/x"}, "1:/no/such/file: no such file or directory"},
		{[]string{src, "1:/no/such/dir/x"}, "1:/no/such/dir/x: no such file or directory"},
		{[]string{"x:/a", "b"}, `"x" is not a node number`},
	} {
		r := cp(tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("bpcp %v: exit %d %q, want one line with %q", tc.args, r.code, r.stderr, tc.msg)
		}
	}
	if _, err := os.Stat(dir + "/x"); err == nil {
		t.Errorf("a failed copy left %s/x", dir)
	}

	// Another user gets no file they could not read on the node, and
	// leaves nothing where they may not write.
	bin := userBinary(t)
	r := c.as(t, bin, 65534, "bpcp", "1:/etc/shadow", dir+"/shadow")
	if r.code != 1 || !strings.Contains(r.stderr, "1:/etc/shadow: permission denied") {
		t.Errorf("bpcp of /etc/shadow as nobody: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(dir + "/shadow"); err == nil {
		t.Errorf("bpcp as nobody left %s/shadow", dir)
	}
	r = c.as(t, bin, 65534, "bpcp", src, "2:/etc/")
	if r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("bpcp into the node's /etc as nobody: %d %q", r.code, r.stderr)
	}

	// A node that is down.
	c.run("", "bpctl", "-S", "2", "-H")
	c.waitState(t, "2", "down")
	if r := cp(src, "2:/tmp/"); r.code != 1 || !strings.Contains(r.stderr, "2: Node is down") {
		t.Errorf("bpcp to a halted node: %d %q", r.code, r.stderr)
	}
	c.run("", "bpctl", "-S", "2", "-R")
	c.waitState(t, "2", "up")
}
