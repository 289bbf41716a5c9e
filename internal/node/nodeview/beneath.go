package nodeview

import (
	"errors"
	"fmt"
	"github.com/bproc/bproc/internal/shared/beneath"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// upperFS is the upper directory, reached only through a descriptor of
// it: nodeview acts as root for every user of the node, and a path string
// handed to a path syscall would follow whatever symlink a user put on the
// way, out of the upper directory into the node's own state (its cache,
// keys, /run/bproc). Every entry is resolved with openat2 beneath this
// descriptor, without following any symlink and without crossing into
// another mount, and changed with *at calls on the descriptors it gives.
type upperFS struct {
	root int // O_PATH|O_DIRECTORY descriptor of the upper directory
}

// openUpperFS makes the upper directory dir if missing, and opens it.
func openUpperFS(dir string) (*upperFS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nodeview: upper layer: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("nodeview: upper layer: open %s: %w", dir, err)
	}
	return &upperFS{root: fd}, nil
}

func (u *upperFS) close() { unix.Close(u.root) }

// open opens rel, a path relative to the upper directory made of names
// checkName accepts ("" is the directory itself). O_NOFOLLOW is always
// added: with O_PATH it opens a symlink itself, otherwise a symlink at
// the end is ELOOP.
func (u *upperFS) open(rel string, flags int, mode uint32) (int, error) {
	return openBeneath(u.root, rel, flags, mode)
}

// openBeneath is open relative to dirfd, a directory of the upper layer.
func openBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if err := checkRel(rel); err != nil {
		return -1, err
	}
	if rel == "" {
		rel = "."
	}
	// No symlink (nor /proc magic link) on the way or at the end, no "..",
	// no other mount.
	return beneath.OpenResolve(dirfd, rel, flags|unix.O_NOFOLLOW, mode, unix.RESOLVE_NO_XDEV)
}

// dir opens directory rel as an O_PATH descriptor, for *at calls.
func (u *upperFS) dir(rel string) (int, error) {
	return u.open(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// lstat is the upper layer's entry rel, not following a symlink at the
// end.
func (u *upperFS) lstat(rel string) (*syscall.Stat_t, error) {
	fd, err := u.open(rel, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// fstatat is entry name of directory descriptor dirfd, not followed.
func fstatat(dirfd int, name string) (*syscall.Stat_t, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return toSyscallStat(&st), nil
}

// errBadName: a name no directory entry may have.
var errBadName = errors.New("not a single file name")

// checkName accepts a name of a directory entry: not empty, not "." or
// "..", no '/' and no NUL, at most 255 bytes. The kernel sends only such
// names; this is the check that nothing else reaches a syscall.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q: %w", name, errBadName)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q: %w", name, errBadName)
	case len(name) > 255:
		return syscall.ENAMETOOLONG
	}
	return nil
}

// checkRel accepts a relative path of names checkName accepts, joined by
// single slashes ("" is the upper directory itself).
func checkRel(rel string) error {
	if rel == "" {
		return nil
	}
	if len(rel) >= unix.PathMax {
		return syscall.ENAMETOOLONG
	}
	for _, name := range strings.Split(rel, "/") {
		if err := checkName(name); err != nil {
			return fmt.Errorf("path %q: %w", rel, err)
		}
	}
	return nil
}

// upperRel is master path p relative to the view's root, the upper layer
// keeps it at: "" for the root, an error for a path not beneath it or not
// clean.
func (v *View) upperRel(p string) (string, error) {
	if p == v.root {
		return "", nil
	}
	prefix := v.root + "/"
	if v.root == "/" {
		prefix = "/"
	}
	rel, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", fmt.Errorf("%q is not beneath %q: %w", p, v.root, errBadName)
	}
	if err := checkRel(rel); err != nil {
		return "", err
	}
	return rel, nil
}

// toErrno is the errno answering a failure of the upper layer.
func toErrno(err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errBadName):
		return syscall.EINVAL
	case errors.As(err, &e):
		return e
	}
	return errno(err)
}

// toSyscallStat is st as the syscall package's type, which go-fuse takes.
func toSyscallStat(st *unix.Stat_t) *syscall.Stat_t {
	return &syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec(st.Atim), Mtim: syscall.Timespec(st.Mtim), Ctim: syscall.Timespec(st.Ctim),
	}
}
