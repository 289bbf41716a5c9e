package nodeview

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// swapped is the view of issue 13's first finding: a program holds
// directory d of the master (its working directory, here a descriptor);
// d is moved away on the master, a symlink d made in the upper layer in
// its place, pointing at target, and d moved back. Whatever the program
// then does in "its" directory must not reach target: the inode it holds
// is no longer its parent's child.
type swapped struct {
	tv     *testView
	upper  string
	fd     int    // the program's directory, the old inode of d
	target string // where the symlink points
}

func swapParent(t *testing.T, target func(upper string) string) *swapped {
	t.Helper()
	upper := t.TempDir()
	tv := mountTest(t, Options{Upper: upper, Timeout: 50 * time.Millisecond})
	tv.write(t, "d/keep", "the master's\n", 0o644)
	// An upper file to link and rename from.
	if err := os.WriteFile(tv.path("src.txt"), []byte("upper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(tv.path("d"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	m := filepath.Join(tv.master, "d")
	if err := os.Rename(m, m+".old"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the kernel's entry timeout
	s := &swapped{tv: tv, upper: upper, fd: fd, target: target(upper)}
	if err := os.Symlink(s.target, tv.path("d")); err != nil {
		t.Fatalf("symlink d in the view: %v", err)
	}
	if err := os.Rename(m+".old", m); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	return s
}

// tree is every path under dir with its mode and size, to compare.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.Size()))
		}
		return nil
	})
	return out
}

// Every operation through a directory whose name now holds a symlink
// answers ESTALE (or ENOENT), and changes nothing where the symlink
// points, neither in the node's own state outside the upper directory nor
// in the upper directory's root (/etc there is every program's /etc).
func TestSwappedParent(t *testing.T) {
	ops := []struct {
		name string
		do   func(s *swapped) error
	}{
		{"create", func(s *swapped) error {
			fd, err := unix.Openat(s.fd, "new", unix.O_CREAT|unix.O_WRONLY, 0o644)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"mkdir", func(s *swapped) error { return unix.Mkdirat(s.fd, "etc", 0o755) }},
		{"mknod", func(s *swapped) error { return unix.Mknodat(s.fd, "fifo", unix.S_IFIFO|0o644, 0) }},
		{"symlink", func(s *swapped) error { return unix.Symlinkat("/anywhere", s.fd, "l") }},
		{"link", func(s *swapped) error { return unix.Linkat(unix.AT_FDCWD, s.tv.path("src.txt"), s.fd, "hl", 0) }},
		{"rename-from", func(s *swapped) error {
			return unix.Renameat(s.fd, "existing", unix.AT_FDCWD, s.tv.path("taken"))
		}},
		{"rename-to", func(s *swapped) error {
			return unix.Renameat(unix.AT_FDCWD, s.tv.path("src.txt"), s.fd, "moved")
		}},
		{"unlink", func(s *swapped) error { return unix.Unlinkat(s.fd, "existing", 0) }},
		{"rmdir", func(s *swapped) error { return unix.Unlinkat(s.fd, "existingdir", unix.AT_REMOVEDIR) }},
		{"setattr", func(s *swapped) error { return unix.Fchmodat(s.fd, "existing", 0o777, 0) }},
		{"truncating-open", func(s *swapped) error {
			fd, err := unix.Openat(s.fd, "existing", unix.O_WRONLY|unix.O_TRUNC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"xattr", func(s *swapped) error {
			return unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/existing", s.fd), "user.x", []byte("y"), 0)
		}},
	}
	targets := []struct {
		name string
		dir  func(t *testing.T, upper string) string
	}{
		// /run/bproc on a node: its cache and keys.
		{"node-state", func(t *testing.T, upper string) string { return t.TempDir() }},
		// /run/bproc/upper: the root of every program's view.
		{"upper-root", func(t *testing.T, upper string) string { return upper }},
	}
	for _, tg := range targets {
		for _, op := range ops {
			t.Run(tg.name+"/"+op.name, func(t *testing.T) {
				s := swapParent(t, func(upper string) string { return tg.dir(t, upper) })
				if err := os.WriteFile(filepath.Join(s.target, "existing"), []byte("node's own\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(filepath.Join(s.target, "existingdir"), 0o700); err != nil {
					t.Fatal(err)
				}
				before := tree(t, s.target)
				err := op.do(s)
				if !errors.Is(err, syscall.ESTALE) && !errors.Is(err, syscall.ENOENT) {
					t.Errorf("%s through the old directory: %v, want ESTALE or ENOENT", op.name, err)
				}
				if after := tree(t, s.target); !slices.Equal(after, before) {
					t.Errorf("%s through the old directory changed %s:\n%q\nthen\n%q", op.name, s.target, before, after)
				}
				if _, err := os.Lstat(filepath.Join(s.target, "existing")); err == nil {
					if sz, err := unix.Lgetxattr(filepath.Join(s.target, "existing"), "user.x", nil); err == nil {
						t.Errorf("an xattr of %d bytes was set on the node's own file", sz)
					}
				}
			})
		}
	}
}

// The exact attack of the issue, as a user: nobody's process in its own
// directory writes etc/ld.so.preload after the swap; the node's /etc (the
// upper layer's) gets nothing.
func TestSwappedCwdAsUser(t *testing.T) {
	upper := t.TempDir()
	tv := mountTest(t, Options{Upper: upper, Timeout: 50 * time.Millisecond})
	home := filepath.Join(tv.master, "home")
	os.MkdirAll(filepath.Join(home, "d"), 0o755)
	for _, d := range []string{home, filepath.Join(home, "d")} {
		os.Chmod(d, 0o755)
		os.Chown(d, nobody, nobody)
	}
	fdir, err := publicDir("nodeview-flag-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(fdir) })
	flag := filepath.Join(fdir, "flag")
	cmd := userShell(t, nobody, tv.path("home/d"),
		fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; mkdir etc; echo /evil.so > etc/ld.so.preload; echo rc=$?", flag))
	time.Sleep(200 * time.Millisecond) // it is in its directory
	m := filepath.Join(home, "d")
	os.Rename(m, m+".old")
	time.Sleep(150 * time.Millisecond)
	if _, e := asUser(t, nobody, "symlink:"+upper, tv.path("home/d")); e != 0 {
		t.Fatalf("nobody's symlink in the view: errno %v", e)
	}
	os.Rename(m+".old", m)
	time.Sleep(150 * time.Millisecond)
	os.WriteFile(flag, nil, 0o644)
	out, _ := cmd.waitOutput()
	t.Logf("script: %q", out)
	for _, p := range []string{filepath.Join(upper, "etc"), tv.path("etc/ld.so.preload")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists after nobody wrote through its stale directory (%q)", p, out)
		}
	}
}

// New entries are made by the caller: the kernel gives a file in a
// setgid directory the directory's group, as on any file system (the
// view used to chown it to the caller's group after the fact), and
// checks the caller's supplementary groups.
func TestUpperCreatesAsCaller(t *testing.T) {
	upper := t.TempDir()
	tv := mountTest(t, Options{Upper: upper})
	sg := filepath.Join(tv.master, "shared")
	os.Mkdir(sg, 0o755)
	os.Chown(sg, 0, 100)
	syscall.Chmod(sg, 0o2777) // os.Chmod would drop the raw setgid bit
	if _, e := asUser(t, nobody, "create", tv.path("shared/mine")); e != 0 {
		t.Fatalf("nobody creating in a 2777 directory: errno %v", e)
	}
	st, err := os.Lstat(filepath.Join(upper, "shared/mine"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != nobody || s.Gid != 100 {
		t.Errorf("nobody's file in a setgid directory of group 100: uid %d gid %d, want %d 100", s.Uid, s.Gid, nobody)
	}

	grp := filepath.Join(tv.master, "group")
	os.Mkdir(grp, 0o771)
	os.Chown(grp, 0, 100)
	os.Chmod(grp, 0o771) // others may look up, only the group write
	if _, e := asUserGroups(t, nobody, []uint32{100}, "create", tv.path("group/mine")); e != 0 {
		t.Errorf("nobody in group 100 creating in root:100 0771: errno %v", e)
	}
	if _, e := asUserGroups(t, nobody, nil, "create", tv.path("group/other")); e != syscall.EACCES {
		t.Errorf("nobody without group 100 creating in root:100 0771: errno %v, want EACCES", e)
	}
}
