package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// masterTempDir is a directory in the master's /tmp, which no node sees
// (a node's /tmp is its own), open to everyone, removed at the end.
func masterTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bproc-nodeprogs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// TestProgramInMasterTmp: a program in the master's /tmp runs on a node
// (its closure goes with the process), by absolute and relative path,
// with BPROC_PROGNAME its path; a program made on a node only runs there
// though the master has no such path, and elsewhere is not found.
func TestProgramInMasterTmp(t *testing.T) {
	needCC(t)
	c := startCluster(t, 3)
	dir := masterTempDir(t)
	src := filepath.Join(dir, "hello.c")
	os.WriteFile(src, []byte(`#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) { printf("hello %s %s\n", argv[0], getenv("BPROC_PROGNAME")); return 3; }
`), 0o644)
	bin := filepath.Join(dir, "a.out")
	gcc(t, bin, src)

	if r := c.run("", "bpsh", "1", bin); r.code != 3 || r.stdout != "hello "+bin+" "+bin+"\n" {
		t.Errorf("bpsh 1 %s: exit %d, stdout %q, stderr %q", bin, r.code, r.stdout, r.stderr)
	}
	if r := c.runIn(dir, "bpsh", "1", "./a.out"); r.code != 3 || r.stdout != "hello ./a.out "+bin+"\n" {
		t.Errorf("bpsh 1 ./a.out in %s: exit %d, stdout %q, stderr %q", dir, r.code, r.stdout, r.stderr)
	}
	// Built again: the node runs the new one.
	os.WriteFile(src, []byte(`#include <stdio.h>
int main(void) { puts("second"); return 0; }
`), 0o644)
	gcc(t, bin, src)
	if r := c.run("", "bpsh", "1", bin); r.code != 0 || r.stdout != "second\n" {
		t.Errorf("bpsh 1 %s rebuilt: exit %d, stdout %q, stderr %q", bin, r.code, r.stdout, r.stderr)
	}

	// Made on node 2 only.
	only := filepath.Join("/tmp", filepath.Base(dir)+"-nodeonly")
	if r := c.run("", "bpsh", "2", "sh", "-c", `printf '#!/bin/sh\necho only on node $BPROC_NODE\n' >`+only+` && chmod 755 `+only); r.code != 0 {
		t.Fatalf("make %s on node 2: exit %d %q", only, r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "2", only); r.code != 0 || r.stdout != "only on node 2\n" {
		t.Errorf("bpsh 2 %s: exit %d, stdout %q, stderr %q", only, r.code, r.stdout, r.stderr)
	}
	if r := c.run("", "bpsh", "1", only); r.code != 127 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("bpsh 1 %s (on node 2 only): exit %d, stderr %q; want 127, no such file", only, r.code, r.stderr)
	}
}

// TestMovesFromMasterTmp: bproc_rfork, bproc_vrfork and bproc_move of a
// program in the master's /tmp: each copy runs on its node with its
// executable there (it failed with EINVAL: the node could not map it).
func TestMovesFromMasterTmp(t *testing.T) {
	needCC(t)
	c := startCluster(t, 3)
	bin := testProgramIn(t, "tmpmove", masterTempDir(t))
	cmd := c.command("", "")
	cmd.Path, cmd.Args = bin, []string{bin}
	r := c.runCmd(cmd, "")
	for _, w := range []string{"rfork child on n1 exe " + bin, "rfork child exited 7",
		"vrfork child 0 on n0 exe " + bin, "vrfork child 1 on n2 exe " + bin, "vrfork child 1 exited 21",
		"moved on n2 exe " + bin, "moved exited 9"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("tmpmove: exit %d, want %q; stdout:\n%s\nstderr:\n%s", r.code, w, r.stdout, r.stderr)
			break
		}
	}
	if r.code != 0 {
		t.Errorf("tmpmove: exit %d", r.code)
	}
}

// TestToolsOnNode: bpstat run on a node reaches the master though the
// $BPROC_SOCKET it inherits is the master's path, which the node does not
// have, and its -l lines up; a remote process has BPROC_PROGNAME.
func TestToolsOnNode(t *testing.T) {
	c := startCluster(t, 2)
	bin := filepath.Join(publicTempDir(t), "bproc")
	copyFile(t, binary, bin, 0o755)
	r := c.run("", "bpsh", "0", bin, "bpstat", "-l")
	if r.code != 0 || strings.Count(r.stdout, " up ") != 2 || strings.Contains(r.stdout, "\t") {
		t.Errorf("bpstat -l on node 0 (BPROC_SOCKET=%s): exit %d, stdout %q, stderr %q", c.socket, r.code, r.stdout, r.stderr)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r = c.run("", "bpsh", "1", "sh", "-c", "echo $BPROC_PROGNAME")
	if want, _ := filepath.Abs(sh); r.stdout != want+"\n" {
		t.Errorf("BPROC_PROGNAME of bpsh 1 sh: %q, want %q (stderr %q)", r.stdout, want, r.stderr)
	}
}
