package nodeview

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// FuzzProcGroups: a status file of any content gives groups only with the
// caller's fs uid and gid on it, and never fails other than with an error.
func FuzzProcGroups(f *testing.F) {
	f.Add("Uid:\t1\t1\t1\t1\nGid:\t2\t2\t2\t2\nGroups:\t3 4\n")
	f.Add("Uid:\t0\t0\t0\t1\nGid:\t2\t2\t2\t2\nGroups:\t3\n")
	f.Add("Groups:\nUid:\t1\t1\t1\t1\nGid:\t2\t2\t2\t2\n")
	f.Add("Uid:\t1\nGid:\t2\nGroups: x\n")
	f.Add("")
	p := filepath.Join(f.TempDir(), "status")
	f.Fuzz(func(t *testing.T, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		g, err := procGroups(p, 1, 2)
		if err == nil && (!strings.Contains(s, "Uid:") || !strings.Contains(s, "Gid:") || g == nil) {
			t.Fatalf("procGroups of %q = %v, nil", s, g)
		}
	})
}
