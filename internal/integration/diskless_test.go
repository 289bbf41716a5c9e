package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// publicTempDir is a directory every user may enter, outside /tmp and
// /var/tmp (a node's are its own, never the master's).
func publicTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "bproc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// TestDisklessView: nodes whose root holds none of the master's files run
// any program of the master, and everything it opens at run time comes
// from the master's files as the caller may read them; writes stay on the
// node; a second run fetches nothing; a changed file is fetched again.
func TestDisklessView(t *testing.T) {
	c := startCluster(t, 2, "--diskless")
	dir := publicTempDir(t)

	// Python: its modules are opened at run time.
	const py = `import json, sys; print(json.dumps(sys.version_info[:2]))`
	want, err := exec.Command("/usr/bin/python3", "-c", py).Output()
	if err != nil {
		t.Skipf("no python3 on the master: %v", err)
	}
	if r := c.run("", "bpsh", "0", "/usr/bin/python3", "-c", py); r.stdout != string(want) {
		t.Errorf("python3 on a diskless node: %q %q exit %d, want %q", r.stdout, r.stderr, r.code, want)
	}

	// The process starts in the caller's directory, and a data file
	// named by a relative path is read from the master.
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("data of the master\n"), 0o644)
	if r := c.runIn(dir, "bpsh", "1", "sh", "-c", "pwd; cat data.txt"); r.stdout != dir+"\ndata of the master\n" {
		t.Errorf("cwd and a relative data file: %q %q", r.stdout, r.stderr)
	}

	// Writes go to the node (the view's upper layer on its tmpfs), never
	// to the master: a new file, a master file changed, one removed.
	written := filepath.Join(dir, "written-on-node")
	if r := c.run("", "bpsh", "0", "sh", "-c", "echo from the node > "+written+" && cat "+written); r.stdout != "from the node\n" {
		t.Errorf("write into the view: %q %q", r.stdout, r.stderr)
	}
	if _, err := os.Stat(written); err == nil {
		t.Errorf("%s written on node 0 appeared on the master", written)
	}
	if r := c.run("", "bpsh", "1", "cat", written); r.code == 0 {
		t.Errorf("%s written on node 0 is on node 1: %q", written, r.stdout)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("from the master\n"), 0o644)
	if r := c.run("", "bpsh", "0", "sh", "-c", "cd "+dir+" && echo from the node >> notes.txt && cat notes.txt && rm notes.txt && ls notes.txt"); r.stdout != "from the master\nfrom the node\n" || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("change and remove a master file on a node: %q %q", r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "from the master\n" {
		t.Errorf("the master's file after a node changed and removed its copy: %q", b)
	}
	// A user writes only where the modes shown let them.
	if r := c.as(t, userBinary(t), 65534, "bpsh", "0", "sh", "-c", "echo x > /etc/bproc-test-nobody"); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("nobody writing to /etc on a node: exit %d %q", r.code, r.stderr)
	}
	own := fmt.Sprintf("/tmp/bproc-node-own-%d", os.Getpid())
	if r := c.run("", "bpsh", "0", "sh", "-c", "echo from the node > "+own+" && cat "+own); r.stdout != "from the node\n" {
		t.Errorf("the node's /tmp: %q %q", r.stdout, r.stderr)
	}
	if _, err := os.Stat(own); err == nil {
		os.Remove(own)
		t.Error("a file written to the node's /tmp appeared in the master's")
	}
	if r := c.run("", "bpsh", "1", "cat", own); r.code == 0 {
		t.Errorf("%s written on node 0 is on node 1: %q", own, r.stdout)
	}

	// A program of the caller's, run twice: the second run fetches
	// nothing (the node's copies stay the same); changed, it is fetched
	// again.
	prog := filepath.Join(dir, "prog")
	copyFile(t, "/bin/true", prog, 0o755)
	cache := filepath.Join("/proc", strconv.Itoa(c.nodePID(t, 1)), "root/run/bproc/cache/sha256")
	sentFirst := filesSent(t, c)
	if r := c.run("", "bpsh", "1", prog); r.code != 0 {
		t.Errorf("first version: exit %d %q", r.code, r.stderr)
	}
	before, sentBefore := listDir(t, cache), filesSent(t, c)
	if fi, err := os.Stat(prog); err != nil || sentBefore-sentFirst < fi.Size() {
		t.Errorf("the master sent %d bytes for a first run of %s (%v)", sentBefore-sentFirst, prog, err)
	}
	if r := c.run("", "bpsh", "1", prog); r.code != 0 {
		t.Errorf("second run: exit %d %q", r.code, r.stderr)
	}
	if after := listDir(t, cache); after != before {
		t.Errorf("the node's copies changed on a second run:\n%s\nthen\n%s", before, after)
	}
	// A copy fetched again would have the same name and size: the
	// master's count of bytes sent is what tells.
	if sent := filesSent(t, c) - sentBefore; sent != 0 {
		t.Errorf("the master sent %d bytes of files for a second run, want 0", sent)
	}
	copyFile(t, "/bin/false", prog+".new", 0o755)
	later := time.Now().Add(2 * time.Second) // the view compares whole seconds
	os.Chtimes(prog+".new", later, later)
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

	checkBuilt(t, c, dir)
	checkRootOnly(t, c, dir, true)
}

// checkBuilt: a C program built here, whose library is found through
// RUNPATH $ORIGIN/lib, runs on a node; with the library gone, or the
// program broken, the node says what the loader or the kernel says.
func checkBuilt(t *testing.T, c *cluster, dir string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Log("no gcc: the built-program checks are skipped")
		return
	}
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "greet.c"), []byte(`#include <stdio.h>
void greet(const char *who) { printf("hello from the library, %s\n", who); }
`), 0o644)
	os.WriteFile(filepath.Join(dir, "main.c"), []byte(`#include <stdlib.h>
void greet(const char *);
int main(void) { greet(getenv("BPROC_NODE")); return 0; }
`), 0o644)
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", "lib/libgreet.so", "greet.c"},
		{"-o", "solver", "main.c", "-Llib", "-lgreet", "-Wl,-rpath,$ORIGIN/lib", "-Wl,--enable-new-dtags"},
	} {
		cc := exec.Command("gcc", args...)
		cc.Dir = dir
		if out, err := cc.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	solver := filepath.Join(dir, "solver")
	if r := c.run("", "bpsh", "0", solver); r.stdout != "hello from the library, 0\n" {
		t.Errorf("a built program with RUNPATH $ORIGIN/lib: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	// The library gone: the loader's own message, and its status.
	os.Rename(filepath.Join(dir, "lib/libgreet.so"), filepath.Join(dir, "lib/gone.so"))
	time.Sleep(1100 * time.Millisecond) // what the node's kernel may still trust
	if r := c.run("", "bpsh", "0", solver); r.code != 127 || !strings.Contains(r.stderr, "libgreet.so: cannot open shared object file") {
		t.Errorf("a missing library: exit %d %q, want 127 and the loader's message", r.code, r.stderr)
	}
	// A broken ELF: the kernel's refusal.
	broken := filepath.Join(dir, "broken")
	os.WriteFile(broken, append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 200)...), 0o755)
	if r := c.run("", "bpsh", "0", broken); r.code != 126 || !strings.Contains(strings.ToLower(r.stderr), "exec format error") {
		t.Errorf("a broken ELF: exit %d %q, want 126 and exec format error", r.code, r.stderr)
	}
}

// TestDisklessPush: with --push-only, a node gets the program, its #!
// interpreter and its libraries pushed to its own root: a second run
// fetches nothing, a changed program is fetched again.
func TestDisklessPush(t *testing.T) {
	c := startCluster(t, 2, "--diskless", "--push-only")
	dir := publicTempDir(t)

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
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"script on node $BPROC_NODE\"\n"), 0o755)
	if r := c.run("", "bpsh", "1", script); r.stdout != "script on node 1\n" {
		t.Errorf("script: %q %q exit %d", r.stdout, r.stderr, r.code)
	}

	checkRootOnly(t, c, dir, false)
}

// checkRootOnly: what only root may read on the master, another user can
// neither run nor (with a view) read through a node, and it never reaches
// the node; root can.
func checkRootOnly(t *testing.T, c *cluster, dir string, view bool) {
	t.Helper()
	secret := filepath.Join(dir, "secret-tool")
	copyFile(t, "/bin/echo", secret, 0o700)
	secretData := filepath.Join(dir, "secret.txt")
	os.WriteFile(secretData, []byte("root's secret\n"), 0o600)
	bin := userBinary(t)
	if r := c.as(t, bin, 65534, "bpsh", "0", secret, "leaked"); r.code != 126 || !strings.Contains(strings.ToLower(r.stderr), "permission denied") {
		t.Errorf("nobody running a root-only program: exit %d %q, want 126 and permission denied", r.code, r.stderr)
	}
	if !view {
		if r := c.run("", "bpsh", "0", secret, "root may"); r.stdout != "root may\n" {
			t.Errorf("root running its own program: %q %q", r.stdout, r.stderr)
		}
		return
	}
	if r := c.as(t, bin, 65534, "bpsh", "0", "/bin/cat", secretData); r.code == 0 || strings.Contains(r.stdout, "secret") || !strings.Contains(strings.ToLower(r.stderr), "permission denied") {
		t.Errorf("nobody reading a root-only file on a node: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := c.run("", "bpsh", "0", secret, "root may"); r.stdout != "root may\n" {
		t.Errorf("root running its own program: %q %q", r.stdout, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "/bin/cat", secretData); r.stdout != "root's secret\n" {
		t.Errorf("root reading its own file on a node: %q %q", r.stdout, r.stderr)
	}
}

// listDir is the names in dir with their sizes, one a line, sorted.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the node's copies: %v", err)
	}
	var lines []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		lines = append(lines, e.Name()+" "+strconv.FormatInt(fi.Size(), 10))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestLibraries: the files of the config's libraries keyword are in a
// node's cache when it comes up, before any program has run there.
func TestLibraries(t *testing.T) {
	libc, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Skip(err)
	}
	conf := filepath.Join(t.TempDir(), "config")
	os.WriteFile(conf, []byte("libraries /usr/bin/l[s] "+libc+"\n"), 0o644)
	c := startCluster(t, 1, "--diskless", "--config", conf)
	log, err := os.ReadFile(filepath.Join(c.dir, "state", "log", "node.0"))
	if err != nil || !strings.Contains(string(log), "libraries: 2 files read") {
		t.Errorf("node 0's log: %v\n%s", err, log)
	}
	cache := filepath.Join("/proc", strconv.Itoa(c.nodePID(t, 0)), "root/run/bproc/cache/sha256")
	sizes := map[string]bool{}
	for _, line := range strings.Split(listDir(t, cache), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			sizes[f[1]] = true
		}
	}
	for _, p := range []string{"/usr/bin/ls", libc} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !sizes[strconv.FormatInt(fi.Size(), 10)] {
			t.Errorf("no copy of %s (%d bytes) in node 0's cache before any program ran: %v", p, fi.Size(), sizes)
		}
	}
}

// TestPeerCopies: a large file many nodes read at once leaves the master
// about once: the nodes fetch it from each other (the master names the
// node and signs a ticket for it), and every node has it whole.
func TestPeerCopies(t *testing.T) {
	c := startCluster(t, 4, "--diskless")
	dir := publicTempDir(t)
	big := filepath.Join(dir, "data.bin")
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command("sha256sum", big).Output()
	if err != nil {
		t.Skip(err)
	}
	// sha256sum and its libraries first: small, from the master.
	c.runIn("/", "bpsh", "0-3", "sha256sum", "/etc/hostname")
	before := filesSent(t, c)
	r := c.runIn("/", "bpsh", "-p", "0-3", "sha256sum", big)
	if r.code != 0 {
		t.Fatalf("bpsh 0-3 sha256sum: exit %d %q", r.code, r.stderr)
	}
	for n := 0; n < 4; n++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("%d: %s", n, want)) {
			t.Errorf("node %d's copy differs or is missing:\n%s\nwant %s", n, r.stdout, want)
		}
	}
	sent := filesSent(t, c) - before
	t.Logf("the master sent %d bytes for a %d-byte file read by 4 nodes", sent, len(data))
	if sent > int64(len(data))*3/2 {
		t.Errorf("the master sent %d bytes for a %d-byte file on 4 nodes; want about the file once", sent, len(data))
	}
}

// filesSent is the master's file bytes sent to all nodes so far.
func filesSent(t *testing.T, c *cluster) int64 {
	t.Helper()
	nodes, err := c.client().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range nodes {
		total += n.FilesSent
	}
	return total
}
