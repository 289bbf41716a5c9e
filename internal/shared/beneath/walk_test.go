package beneath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFollowAs: the rule, case by case. dirs: a user's own directory
// (0755, owner 1000), a sticky world-writable one owned by root (/tmp),
// and one owned by the link's owner that is sticky and world-writable.
func TestFollowAs(t *testing.T) {
	own := unix.Stat_t{Mode: unix.S_IFDIR | 0o755, Uid: 1000}
	tmp := unix.Stat_t{Mode: unix.S_IFDIR | unix.S_ISVTX | 0o777, Uid: 0}
	stickyOwn := unix.Stat_t{Mode: unix.S_IFDIR | unix.S_ISVTX | 0o777, Uid: 1000}
	worldNoSticky := unix.Stat_t{Mode: unix.S_IFDIR | 0o777, Uid: 0}
	stickyNotWorld := unix.Stat_t{Mode: unix.S_IFDIR | unix.S_ISVTX | 0o775, Uid: 0}
	for _, tc := range []struct {
		what     string
		follower uint32
		owner    uint32
		dir      unix.Stat_t
		want     string // "" to follow
	}{
		{"root, root's link in /tmp", 0, 0, tmp, ""},
		{"root, a user's link in the user's own directory (the issue)", 0, 1000, own, "/d/l: symlink owned by uid 1000; not following it as root"},
		{"root, a user's link in /tmp", 0, 1000, tmp, "/d/l: symlink owned by uid 1000; not following it as root"},
		{"root, a user's link in a directory the user owns, sticky", 0, 1000, stickyOwn, "/d/l: symlink owned by uid 1000; not following it as root"},
		{"user, own link in /tmp", 1000, 1000, tmp, ""},
		{"user, root's link in /tmp", 1000, 0, tmp, ""},
		{"user, another user's link in /tmp", 1000, 1001, tmp, "/d/l: symlink owned by uid 1001 in a sticky world-writable directory; not following it as uid 1000"},
		{"user, the directory owner's link in a sticky directory", 1001, 1000, stickyOwn, ""},
		{"user, another user's link in that user's directory", 1001, 1000, own, ""},
		{"user, a stranger's link in a world-writable directory without the sticky bit", 1000, 1001, worldNoSticky, ""},
		{"user, a stranger's link in a sticky directory only a group may write", 1000, 1001, stickyNotWorld, ""},
	} {
		link := unix.Stat_t{Mode: unix.S_IFLNK | 0o777, Uid: tc.owner}
		err := FollowAs(tc.follower)("/d/l", &link, &tc.dir)
		got := ""
		if err != nil {
			got = err.Error()
			var r *RefusedLink
			if !errors.As(err, &r) {
				t.Errorf("%s: %T, want a *RefusedLink", tc.what, err)
			}
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, got, tc.want)
		}
	}
}

// walkTree is a tree with links owned by uid 1000 (the test runs as
// root, and chowns them with lchown).
func walkTree(t *testing.T) (string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give links other owners")
	}
	dir, root := openRoot(t)
	mk := func(p string) { os.MkdirAll(filepath.Join(dir, p), 0o755) }
	mk("etc")
	mk("home/u")
	mk("tmp")
	os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky)
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root\n"), 0o644)
	link := func(target, p string, uid int) {
		os.Symlink(target, filepath.Join(dir, p))
		if err := os.Lchown(filepath.Join(dir, p), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	link("/etc", "home/u/d", 1000)        // absolute: from the walk's root
	link("../../etc", "home/u/rel", 1000) // relative, with ..
	link("/etc", "home/u/rootlink", 0)
	link("/etc", "tmp/d", 1000)
	link("loop", "tmp/loop", 0)
	return dir, root
}

// TestWalk: links resolve from the walk's root, "..", the last
// component followed or not, and the rule applied at every link.
func TestWalk(t *testing.T) {
	_, root := walkTree(t)
	for _, tc := range []struct {
		p          string
		uid        uint32
		followLast bool
		want       string // the name at the end, or the error
		dirIsEtc   bool
	}{
		{"/home/u/d/passwd", 1000, true, "passwd", true},
		{"/home/u/rel/passwd", 1000, true, "passwd", true},
		{"/home/u/d/passwd", 0, true, "/home/u/d: symlink owned by uid 1000; not following it as root", false},
		{"/home/u/d/new", 0, true, "/home/u/d: symlink owned by uid 1000; not following it as root", false},
		{"/home/u/d", 0, true, "/home/u/d: symlink owned by uid 1000; not following it as root", false},
		{"/home/u/d", 0, false, "d", false},
		{"/home/u/rootlink/passwd", 0, true, "passwd", true},
		{"/home/u/rootlink/passwd", 1000, true, "passwd", true},
		{"/tmp/d/passwd", 1000, true, "passwd", true},
		{"/tmp/d/passwd", 1001, true, "/tmp/d: symlink owned by uid 1000 in a sticky world-writable directory; not following it as uid 1001", false},
		{"/../../etc/passwd", 0, true, "passwd", true},
		{"/etc/passwd/x", 0, true, "walk /etc/passwd: not a directory", false},
		{"/no/such", 0, true, "walk /no: no such file or directory", false},
		{"/tmp/loop", 0, true, "walk /tmp/loop: too many levels of symbolic links", false},
		{"/", 0, true, ".", false},
		{"relative", 0, true, "walk relative: not an absolute path", false},
	} {
		dir, name, err := Walk(root, tc.p, tc.followLast, FollowAs(tc.uid))
		got := name
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Walk(%s) as %d: %q, want %q", tc.p, tc.uid, got, tc.want)
		}
		if err == nil {
			var st unix.Stat_t
			isEtc := unix.Fstatat(dir, "passwd", &st, unix.AT_SYMLINK_NOFOLLOW) == nil
			if isEtc != tc.dirIsEtc {
				t.Errorf("Walk(%s): ended in etc %v, want %v", tc.p, isEtc, tc.dirIsEtc)
			}
			unix.Close(dir)
		}
	}
}

// TestWalkClosesDescriptors: no descriptor is left open by a walk,
// whether it ends well or not.
func TestWalkClosesDescriptors(t *testing.T) {
	_, root := walkTree(t)
	before := openFDs(t)
	for i := 0; i < 50; i++ {
		if dir, _, err := Walk(root, "/home/u/rel/passwd", true, FollowAs(1000)); err == nil {
			unix.Close(dir)
		}
		Walk(root, "/home/u/d/passwd", true, FollowAs(0))
		Walk(root, "/tmp/loop", true, FollowAs(0))
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before the walks, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// FuzzWalk: any path, absolute or not, walks to an error or to a
// directory and one plain name beneath the tree's root, never above it.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{"/home/u/d/passwd", "/../..", "/tmp/loop/x", "//a//./b/..", "/home/u/rel/../../x", ""} {
		f.Add(s, true)
	}
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "home/u"), 0o755)
	os.Symlink("../../..", filepath.Join(dir, "home/u/up"))
	os.Symlink("/home/u/up/../../etc", filepath.Join(dir, "home/u/abs"))
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.Fatal(err)
	}
	var rootSt unix.Stat_t
	unix.Fstat(root, &rootSt)
	f.Fuzz(func(t *testing.T, p string, followLast bool) {
		d, name, err := Walk(root, p, followLast, FollowAs(uint32(os.Geteuid())))
		if err != nil {
			return
		}
		defer unix.Close(d)
		if name == "" || name == ".." || strings.Contains(name, "/") {
			t.Fatalf("Walk(%q) ended at name %q", p, name)
		}
		// d is the root or beneath it: walking up from d reaches root's
		// inode before the file system's root.
		for cur, i := d, 0; ; i++ {
			var st unix.Stat_t
			unix.Fstat(cur, &st)
			if st.Dev == rootSt.Dev && st.Ino == rootSt.Ino {
				if cur != d {
					unix.Close(cur)
				}
				return
			}
			up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if cur != d {
				unix.Close(cur)
			}
			if err != nil || i > 64 {
				t.Fatalf("Walk(%q) ended outside the root", p)
			}
			cur = up
		}
	})
}

// BenchmarkWalk: a five-component path through one link, the cost bpcp's
// file server adds to each request.
func BenchmarkWalk(b *testing.B) {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b/c/d"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/c/d/f"), nil, 0o644)
	os.Symlink("/a/b", filepath.Join(dir, "l"))
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(root)
	follow := FollowAs(uint32(os.Geteuid()))
	for b.Loop() {
		d, _, err := Walk(root, "/l/c/d/f", true, follow)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(d)
	}
}
