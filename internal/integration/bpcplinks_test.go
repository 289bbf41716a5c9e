package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestBpcpForeignSymlinks is issue 13's bpcp case: root copying to a
// path on a node through a symlink a user made there (udir/d -> /etc)
// would write /etc/NAME as root, since namespace nodes share the
// machine's fs.protected_symlinks (which may be 0, and would not stop a
// link in the user's own directory anyway). bpcp's file server follows
// no link of another user as root, in either direction; a user follows
// their own link, and root its own.
func TestBpcpForeignSymlinks(t *testing.T) {
	c := startCluster(t, 1)
	bin := userBinary(t)
	const nobody = 65534
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "bpcp-issue13-" + hex.EncodeToString(rnd[:])
	nodeRoot := "/proc/" + strconv.Itoa(c.nodePID(t, 0)) + "/root"
	// /etc/NAME as the node's processes see it (the view, on a diskless
	// node) and in bpslave's own root. On old code the copy lands there:
	// never leave it behind.
	etcFile := filepath.Join(nodeRoot, "etc", name)
	inEtc := func() bool {
		_, err := os.Lstat(etcFile)
		return err == nil || c.run("", "bpsh", "0", "test", "-e", "/etc/"+name).code == 0
	}
	t.Cleanup(func() {
		os.Remove(etcFile)
		c.run("", "bpsh", "0", "rm", "-f", "/etc/"+name)
	})

	dir, err := os.MkdirTemp("", "bproc-bpcplinks-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	src := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte("payload\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The user's directory on node 0: a link to /etc, and one to a
	// directory of their own.
	if r := c.as(t, bin, nobody, "bpsh", "0", "sh", "-c",
		"mkdir -p /tmp/udir/real && ln -s /etc /tmp/udir/d && ln -s /tmp/udir/real /tmp/udir/mine"); r.code != 0 {
		t.Fatalf("making the user's links on node 0: %d %q", r.code, r.stderr)
	}
	// And root's own link, in /tmp.
	if r := c.run("", "bpsh", "0", "sh", "-c", "mkdir -p /tmp/rootdir && ln -s /tmp/rootdir /tmp/rootlink"); r.code != 0 {
		t.Fatalf("making root's link on node 0: %d %q", r.code, r.stderr)
	}
	t.Cleanup(func() { c.run("", "bpsh", "0", "rm", "-rf", "/tmp/udir", "/tmp/rootdir", "/tmp/rootlink") })

	refused := "/tmp/udir/d: symlink owned by uid 65534; not following it as root"
	// As root, into the link: refused, named, nothing in /etc.
	for _, dst := range []string{"0:/tmp/udir/d/" + name, "0:/tmp/udir/d", "0:/tmp/udir/d/"} {
		r := c.run("", "bpcp", src, dst)
		if r.code != 1 || !strings.Contains(r.stderr, refused) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("bpcp %s as root through the user's link: exit %d %q, want 1 and %q", dst, r.code, r.stderr, refused)
		}
		if inEtc() {
			t.Errorf("bpcp %s as root created the node's /etc/%s", dst, name)
		}
	}
	// The user's link is still theirs, not replaced by root's copy.
	if fi, err := os.Lstat(filepath.Join(nodeRoot, "tmp/udir/d")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the user's link after the refused copies: %v %v", fi, err)
	}
	// As root, reading through it: refused too.
	back := filepath.Join(dir, "back")
	if r := c.run("", "bpcp", "0:/tmp/udir/d/hostname", back); r.code != 1 || !strings.Contains(r.stderr, refused) {
		t.Errorf("bpcp from the node through the user's link as root: exit %d %q, want 1 and %q", r.code, r.stderr, refused)
	}
	if _, err := os.Stat(back); err == nil {
		t.Errorf("the refused read left %s", back)
	}

	// The link's owner follows it, both ways.
	if r := c.as(t, bin, nobody, "bpcp", src, "0:/tmp/udir/mine/"+name); r.code != 0 {
		t.Errorf("bpcp as the link's owner: exit %d %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(nodeRoot, "tmp/udir/real", name)); err != nil || string(b) != "payload\n" {
		t.Errorf("the owner's copy through their link: %q %v", b, err)
	}
	// Made as the caller: theirs, not root's.
	if fi, err := os.Stat(filepath.Join(nodeRoot, "tmp/udir/real", name)); err != nil || fi.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("the owner's copy is not owned by uid %d: %v", nobody, err)
	}
	if r := c.as(t, bin, nobody, "bpcp", "0:/tmp/udir/mine/"+name, filepath.Join(dir, "owner-back")); r.code != 0 {
		t.Errorf("bpcp from the node as the link's owner: exit %d %q", r.code, r.stderr)
	}
	// Root follows root's own link.
	if r := c.run("", "bpcp", src, "0:/tmp/rootlink/"); r.code != 0 {
		t.Errorf("bpcp as root through root's link: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(nodeRoot, "tmp/rootdir", name)); err != nil {
		t.Errorf("root's copy through root's link: %v", err)
	}
	// A relative path on the node is from the directory bpcp runs in.
	if r := c.runIn("/tmp", "bpcp", src, "0:rootlink/rel"); r.code != 0 {
		t.Errorf("bpcp to a relative path: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(nodeRoot, "tmp/rootdir/rel")); err != nil {
		t.Errorf("the copy to a relative path: %v", err)
	}
	if inEtc() {
		t.Errorf("the node's /etc/%s exists after the test's copies", name)
	}
}
