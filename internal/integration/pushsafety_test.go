package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPushSymlink: on a push-only node, a user's symlink where the
// master has a directory is never followed by the push, which runs as
// root: the start fails naming the path, and the link's target (the
// node's /usr) keeps its mode and gets no file. Issue 13, finding 3.
func TestPushSymlink(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(conf, []byte("pushsetid no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, "--diskless", "--push-only", "--config", conf)
	slave := c.nodePID(t, 0)
	nodeRoot := fmt.Sprintf("/proc/%d/root", slave)
	bin := userBinary(t)

	// On the master: /tmp/<top>/d/prog, d open to all (mode 0777).
	top, err := os.MkdirTemp("/tmp", "bproc-push-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	d := filepath.Join(top, "d")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777)
	prog := filepath.Join(d, "prog")
	copyFile(t, "/bin/true", prog, 0o755)

	// On the node, as nobody: /tmp/<top> theirs, d a link to /usr.
	for _, argv := range [][]string{{"/bin/mkdir", top}, {"/bin/ln", "-s", "/usr", d}} {
		if r := c.as(t, bin, 65534, "bpsh", append([]string{"0"}, argv...)...); r.code != 0 {
			t.Fatalf("bpsh 0 %v as nobody: exit %d %q", argv, r.code, r.stderr)
		}
	}
	before, err := os.Stat(nodeRoot + "/usr")
	if err != nil {
		t.Fatal(err)
	}
	r := c.as(t, bin, 65534, "bpsh", "0", prog)
	if r.code == 0 || !strings.Contains(r.stderr, d) || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("bpsh 0 %s through a user's link: exit %d %q, want a failure naming %s and the symlink", prog, r.code, r.stderr, d)
	}
	after, err := os.Stat(nodeRoot + "/usr")
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() {
		t.Errorf("the node's /usr went from %v to %v", before.Mode(), after.Mode())
	}
	if _, err := os.Lstat(nodeRoot + "/usr/prog"); err == nil {
		t.Errorf("the push placed the program in the node's /usr, through the user's link")
	}
	if fi, err := os.Lstat(nodeRoot + d); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the user's link %s on the node: %v, %v; want it left alone", d, fi, err)
	}

	// Setuid and setgid bits of pushed files are dropped (pushsetid no);
	// with pushsetid yes after a reload they are kept.
	dir := publicTempDir(t)
	mode := func(name string) os.FileMode {
		t.Helper()
		p := filepath.Join(dir, name)
		copyFile(t, "/bin/true", p, 0o755)
		if err := os.Chmod(p, 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
			t.Fatal(err)
		}
		if r := c.as(t, bin, 65534, "bpsh", "0", p); r.code != 0 {
			t.Fatalf("bpsh 0 %s: exit %d %q", p, r.code, r.stderr)
		}
		fi, err := os.Stat(nodeRoot + p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	if m := mode("suid-dropped"); m&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("a setuid-root program pushed to the node: mode %v, want no setuid or setgid bit", m)
	}
	if err := os.WriteFile(conf, []byte("pushsetid yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	from := len(c.log.String())
	c.master.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the config reloaded", func() bool { return strings.Contains(c.log.String()[from:], "configuration reloaded") })
	if m := mode("suid-kept"); m&(os.ModeSetuid|os.ModeSetgid) != os.ModeSetuid|os.ModeSetgid {
		t.Errorf("with pushsetid yes: mode %v, want setuid and setgid kept", m)
	}
}
