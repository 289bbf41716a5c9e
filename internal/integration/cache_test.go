package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The node's cache is content-addressed (package contentcache): these
// tests hold both of its users, the view and the push, to what that means.

// rewriteKeepTimes writes content to p and puts back the size it had (the
// content is as long) and its mtime, as touch -r would: only the content,
// and the ctime no user can set, tell the versions apart.
func rewriteKeepTimes(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != fi.Size() {
		t.Fatalf("rewrite of %s: %d bytes for %d", p, len(content), fi.Size())
	}
	if err := os.WriteFile(p, []byte(content), fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(p); err != nil || fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("rewrite of %s did not keep size and mtime: %v", p, err)
	}
}

// secondRunSendsNothing runs a copy of /bin/true (in dir) on node 0
// twice: the first run sends at least the program, the second nothing.
// It returns the program's path.
func secondRunSendsNothing(t *testing.T, c *cluster, dir, mode string) string {
	t.Helper()
	prog := filepath.Join(dir, "prog")
	copyFile(t, "/bin/true", prog, 0o755)
	settle()
	sent0 := filesSent(t, c)
	if r := c.run("", "bpsh", "0", prog); r.code != 0 {
		t.Fatalf("first run: exit %d %q", r.code, r.stderr)
	}
	sent1 := filesSent(t, c)
	if r := c.run("", "bpsh", "0", prog); r.code != 0 {
		t.Fatalf("second run: exit %d %q", r.code, r.stderr)
	}
	sent2 := filesSent(t, c)
	t.Logf("%s: first run of %s sent %d bytes, second run %d", mode, prog, sent1-sent0, sent2-sent1)
	if fi, _ := os.Stat(prog); sent1-sent0 < fi.Size() {
		t.Errorf("first run sent %d bytes, less than the program's %d", sent1-sent0, fi.Size())
	}
	if sent2 != sent1 {
		t.Errorf("second run sent %d bytes of files, want 0", sent2-sent1)
	}
	return prog
}

// settle waits out the master's racy window for files written just now
// (their sums are taken again on every ask until they are a little older),
// so that the second runs below measure a settled master, as users meet it.
func settle() { time.Sleep(2100 * time.Millisecond) }

// TestContentCacheView: on a node with the view, (a) a second run of a
// program transfers nothing but the check, (b) a script and a data file
// rewritten on the master with their size and mtime put back are fetched
// again and the node runs and reads the new content, (c) two paths with
// identical content are one copy on the node, sent once.
func TestContentCacheView(t *testing.T) {
	c := startCluster(t, 1, "--diskless")
	dir := publicTempDir(t)
	cache := filepath.Join("/proc", strconv.Itoa(c.nodePID(t, 0)), "root/run/bproc/cache/sha256")

	// (a)
	secondRunSendsNothing(t, c, dir, "view")

	// (b)
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	data := filepath.Join(dir, "data.txt")
	os.WriteFile(data, []byte("version A\n"), 0o644)
	if r := c.run("", "bpsh", "0", script); r.code != 3 {
		t.Errorf("script: exit %d %q, want 3", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "cat", data); r.stdout != "version A\n" {
		t.Errorf("data: %q %q", r.stdout, r.stderr)
	}
	rewriteKeepTimes(t, script, "#!/bin/sh\nexit 4\n")
	rewriteKeepTimes(t, data, "version B\n")
	if r := c.run("", "bpsh", "0", script); r.code != 4 {
		t.Errorf("script rewritten with size and mtime put back: exit %d %q, want 4 (the new content)", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "0", "cat", data); r.stdout != "version B\n" {
		t.Errorf("data rewritten with size and mtime put back: %q %q, want version B", r.stdout, r.stderr)
	}

	// (c)
	same := make([]byte, 300<<10)
	for i := range same {
		same[i] = byte(i*13 + i>>9)
	}
	a, b := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	os.WriteFile(a, same, 0o644)
	os.WriteFile(b, same, 0o600)
	before := filesSent(t, c)
	if r := c.run("", "bpsh", "0", "sh", "-c", "cat "+a+" "+b+" | wc -c"); strings.TrimSpace(r.stdout) != strconv.Itoa(2*len(same)) {
		t.Fatalf("reading both: %q %q", r.stdout, r.stderr)
	}
	sent := filesSent(t, c) - before
	t.Logf("view: two paths of one %d-byte content sent %d bytes", len(same), sent)
	if sent < int64(len(same)) || sent >= int64(2*len(same)) {
		t.Errorf("two paths of one content sent %d bytes, want it once (%d)", sent, len(same))
	}
	sum := sha256.Sum256(same)
	copies := 0
	for _, line := range strings.Split(listDir(t, cache), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == strconv.Itoa(len(same)) {
			copies++
			if f[0] != hex.EncodeToString(sum[:]) {
				t.Errorf("the copy is named %s, want its sha256 %x", f[0], sum)
			}
		}
	}
	if copies != 1 {
		t.Errorf("%d copies of the content on the node, want 1:\n%s", copies, listDir(t, cache))
	}
}

// TestContentCachePush: the same with --push-only, where the program and
// its closure are placed in the node's own root.
func TestContentCachePush(t *testing.T) {
	c := startCluster(t, 1, "--diskless", "--push-only")
	dir := publicTempDir(t)

	// (a)
	prog := secondRunSendsNothing(t, c, dir, "push")

	// (b)
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	if r := c.run("", "bpsh", "0", script); r.code != 3 {
		t.Errorf("script: exit %d %q, want 3", r.code, r.stderr)
	}
	rewriteKeepTimes(t, script, "#!/bin/sh\nexit 4\n")
	if r := c.run("", "bpsh", "0", script); r.code != 4 {
		t.Errorf("script rewritten with size and mtime put back: exit %d %q, want 4 (the new content)", r.code, r.stderr)
	}

	// (c) Another path of the program's content: nothing sent, and on the
	// node the same file (a hard link to the one copy).
	twin := filepath.Join(dir, "twin")
	copyFile(t, prog, twin, 0o755)
	before := filesSent(t, c)
	if r := c.run("", "bpsh", "0", twin); r.code != 0 {
		t.Fatalf("twin: exit %d %q", r.code, r.stderr)
	}
	if sent := filesSent(t, c) - before; sent != 0 {
		t.Errorf("a second path of one content sent %d bytes, want 0", sent)
	}
	r := c.run("", "bpsh", "0", "/bin/ls", "-i", prog, twin)
	f := strings.Fields(r.stdout)
	if len(f) != 4 || f[0] != f[2] {
		t.Errorf("ls -i of both paths on the node: %q %q; want one inode", r.stdout, r.stderr)
	}
}
