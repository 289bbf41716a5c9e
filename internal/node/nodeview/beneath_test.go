package nodeview

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// FuzzUpperPath: whatever name or path the upper layer is handed, a file
// made with it lands beneath the upper directory, never through a symlink
// and never above it; checkRel passes only clean relative paths.
func FuzzUpperPath(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "", ".", "..", "../x", "a/../../x", "./x", "a//b", "/etc/x",
		"esc/x", "esc", "up/x", "sub/esc/x", "a\x00b", "sub/", strings.Repeat("n", 256),
		strings.Repeat("d/", 2100), ".bproc-wh.x", "sub/..",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	upper, outside := filepath.Join(dir, "upper"), filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(upper, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	os.Symlink(outside, filepath.Join(upper, "esc"))
	os.Symlink("..", filepath.Join(upper, "up"))
	os.Symlink(outside, filepath.Join(upper, "sub", "esc"))
	u, err := openUpperFS(upper)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(u.close)
	v := &View{root: "/m"}
	f.Fuzz(func(t *testing.T, s string) {
		if checkRel(s) == nil && s != "" {
			for _, name := range strings.Split(s, "/") {
				if name == "" || name == "." || name == ".." || strings.ContainsRune(name, 0) || len(name) > 255 {
					t.Fatalf("checkRel(%q) accepted name %q", s, name)
				}
			}
		}
		if rel, err := v.upperRel("/m/" + s); err == nil && rel != s {
			t.Fatalf("upperRel(/m/%q) = %q", s, rel)
		}
		if fd, err := u.open(s, unix.O_CREAT|unix.O_WRONLY, 0o600); err == nil {
			unix.Close(fd)
		}
		if fd, err := u.dir(s); err == nil {
			unix.Mkdirat(fd, "made", 0o700)
			unix.Close(fd)
		}
		if err := checkName(s); err == nil {
			unix.Mkdirat(u.root, s, 0o700)
		}
		ents, err := os.ReadDir(outside)
		if err != nil || len(ents) != 0 {
			t.Fatalf("after %q the directory outside holds %v (%v)", s, ents, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "made")); err == nil {
			t.Fatalf("after %q a directory was made above the upper directory", s)
		}
	})
}

// TestCallerGroups: a status gives groups only with the caller's fs uid
// and gid on it.
func TestCallerGroups(t *testing.T) {
	for _, c := range []struct {
		uid, gid [4]uint32
		ok       bool
	}{
		{[4]uint32{1, 1, 1, 1}, [4]uint32{2, 2, 2, 2}, true},
		{[4]uint32{0, 0, 0, 1}, [4]uint32{0, 0, 0, 2}, true},
		{[4]uint32{1, 1, 1, 0}, [4]uint32{2, 2, 2, 2}, false},
		{[4]uint32{1, 1, 1, 1}, [4]uint32{2, 2, 2, 0}, false},
	} {
		g, ok := callerGroups(procfs.Status{UID: c.uid, GID: c.gid, Groups: []uint32{3, 4}}, 1, 2)
		if ok != c.ok || ok && !slices.Equal(g, []uint32{3, 4}) {
			t.Errorf("callerGroups(uid %v gid %v, 1, 2) = %v, %v; want ok %v", c.uid, c.gid, g, ok, c.ok)
		}
	}
}
