package beneath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func openRoot(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return dir, fd
}

// TestMkdirAllRefusesSymlinks: a link where a directory is wanted is
// refused and named, whether it is the last component or one before.
func TestMkdirAllRefusesSymlinks(t *testing.T) {
	dir, root := openRoot(t)
	outside := t.TempDir()
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	os.Symlink(outside, filepath.Join(dir, "a", "d"))
	for _, rel := range []string{"a/d", "a/d/e/f"} {
		fd, err := MkdirAll(root, rel, nil)
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, ErrSymlink) || err.Error() != "/a/d is a symlink; not following it" {
			t.Errorf("MkdirAll %s through a link: %v, want /a/d named as a symlink", rel, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("MkdirAll made %d entries in the link's target", len(ents))
	}
	// A new directory is handed to made, and ends up where it was asked.
	var made []string
	fd, err := MkdirAll(root, "x/y", func(fd int, p string) error {
		made = append(made, p)
		return unix.Fchmod(fd, 0o711)
	})
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	fi, err := os.Stat(filepath.Join(dir, "x/y"))
	if err != nil || fi.Mode().Perm() != 0o711 || len(made) != 2 || made[1] != "/x/y" {
		t.Errorf("MkdirAll x/y: %v %v, made %v", fi, err, made)
	}
}

// TestOpenBeneath: no symlink is followed, none leads out, and Lstat
// sees a link itself.
func TestOpenBeneath(t *testing.T) {
	dir, root := openRoot(t)
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "l"))
	if _, err := Open(root, "l", unix.O_RDONLY, 0); err != unix.ELOOP {
		t.Errorf("open through a link: %v, want ELOOP", err)
	}
	if _, err := Open(root, "../etc/passwd", unix.O_RDONLY, 0); err != unix.EXDEV {
		t.Errorf("open above the root: %v, want EXDEV", err)
	}
	st, err := Lstat(root, "l")
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("Lstat of a link: mode %o, %v", st.Mode, err)
	}
}
