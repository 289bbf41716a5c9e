package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

func TestPushRel(t *testing.T) {
	for _, tc := range []struct {
		path, rel, dir, name string
		bad                  bool
	}{
		{path: "/usr/bin/prog", rel: "usr/bin/prog", dir: "usr/bin", name: "prog"},
		{path: "/prog", rel: "prog", dir: ".", name: "prog"},
		{path: "/", bad: true},
		{path: "", bad: true},
		{path: "usr/bin/prog", bad: true},
		{path: "/usr/../etc/passwd", bad: true},
		{path: "/usr/bin/", bad: true},
		{path: "/usr//bin", bad: true},
	} {
		rel, dir, name, err := pushRel(wire.PushFile{Path: tc.path})
		if tc.bad {
			if err == nil {
				t.Errorf("pushRel(%q) = %q %q %q, want an error", tc.path, rel, dir, name)
			}
			continue
		}
		if err != nil || rel != tc.rel || dir != tc.dir || name != tc.name {
			t.Errorf("pushRel(%q) = %q %q %q %v, want %q %q %q", tc.path, rel, dir, name, err, tc.rel, tc.dir, tc.name)
		}
	}
}

// pushRoot is a temporary directory standing for the node's root, open.
func pushRoot(t *testing.T) (string, int) {
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return dir, fd
}

// TestMakeDir: a pushed directory is made with the directories above it
// (0755), gets the master's mode, and one that exists is left alone.
func TestMakeDir(t *testing.T) {
	dir, root := pushRoot(t)
	f := wire.PushFile{Path: "/opt/app/lib", Kind: "dir", Mode: 0o750, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if err := makeDir(root, f); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{"opt": 0o755, "opt/app": 0o755, "opt/app/lib": 0o750} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil || !st.IsDir() || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want a directory of mode %o", p, st.Mode(), err, mode)
		}
	}
	os.Chmod(filepath.Join(dir, "opt/app/lib"), 0o700)
	if err := makeDir(root, f); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "opt/app/lib")); st.Mode().Perm() != 0o700 {
		t.Errorf("an existing directory's mode changed to %o", st.Mode().Perm())
	}
}

// TestPushFollowsNoSymlink: a symlink where the master has a directory
// refuses the push, and nothing is made where it points.
func TestPushFollowsNoSymlink(t *testing.T) {
	dir, root := pushRoot(t)
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, "opt")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []wire.PushFile{
		{Path: "/opt/app", Kind: "dir", Mode: 0o755},
		{Path: "/opt/app/lib.so", Kind: "link", Target: "lib.so.1"},
	} {
		if err := func() error {
			if f.Kind == "dir" {
				return makeDir(root, f)
			}
			return makeLink(root, f)
		}(); err == nil {
			t.Errorf("%s %s through a symlink: no error", f.Kind, f.Path)
		}
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("made %v where the symlink points", ents)
	}
}

// TestMakeLink: a pushed link is made, left when it is right already, and
// replaced (never followed) when it points elsewhere.
func TestMakeLink(t *testing.T) {
	dir, root := pushRoot(t)
	path := filepath.Join(dir, "lib/libx.so")
	for _, target := range []string{"libx.so.1", "libx.so.1", "libx.so.2"} {
		if err := makeLink(root, wire.PushFile{Path: "/lib/libx.so", Kind: "link", Target: target}); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(path); err != nil || got != target {
			t.Errorf("link points to %q (%v), want %q", got, err, target)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "lib")); len(ents) != 1 {
		t.Errorf("the directory holds %d entries, want the link alone", len(ents))
	}
}

// TestStillPlaced: a placed file counts as placed while its inode and
// ctime are what they were; a write, a chmod or a replacement ends that.
func TestStillPlaced(t *testing.T) {
	dir, root := pushRoot(t)
	path := filepath.Join(dir, "prog")
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"chmod", func() error { return os.Chmod(path, 0o700) }},
		{"write", func() error { return os.WriteFile(path, []byte("changed"), 0o755) }},
		{"replace", func() error { os.Remove(path); return os.WriteFile(path, []byte("new"), 0o755) }},
	} {
		os.WriteFile(path, []byte("placed"), 0o755)
		var st unix.Stat_t
		unix.Lstat(path, &st)
		p := pushed{placed: map[string]placement{"/prog": {ino: st.Ino, ctime: st.Ctim.Nano()}}}
		if !p.stillPlaced(root, "/prog") {
			t.Fatalf("%s: a file just placed is not", change.name)
		}
		time.Sleep(20 * time.Millisecond) // past the file system clock's tick (ctime is coarse)
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		if p.stillPlaced(root, "/prog") {
			t.Errorf("after a %s the file still counts as placed", change.name)
		}
	}
	if (&pushed{}).stillPlaced(root, "/prog") {
		t.Error("a file never placed counts as placed")
	}
}
