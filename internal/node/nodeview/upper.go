package nodeview

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"
)

// The upper layer: with Options.Upper set, what programs write lands in
// that directory of the node's own file system, at the same paths, and the
// view shows it over the master's files, as an overlay would (overlayfs
// itself cannot sit on this view: it keeps the lower layer's names forever,
// and the master's files change). New files and directories are made
// there; a master file opened for writing, or changed (chmod, truncate), is
// copied up first; a master file removed leaves a whiteout, a marker file
// in the upper directory. Permissions are the node kernel's
// (default_permissions) on the attributes the view shows: the master's for
// its files, the upper files' own.
//
// nodeview is root, and the upper directory sits in the node's own tree
// beside its cache and keys. So the upper layer is reached only through a
// descriptor of its directory, every path resolved beneath it without
// following a symlink (beneath.go); what a user makes or changes there is
// made or changed with that user's credentials (caller.go), so the node's
// kernel decides as for any file system, and the owner is the caller's
// from the start; and an inode that is no longer its parent's child has no
// path at all (inodeRel), never the path another entry now holds.
const whiteoutPrefix = ".bproc-wh."

// userName refuses the names the upper layer keeps for itself (whiteouts)
// and names no entry may have.
func userName(name string) syscall.Errno {
	if err := checkName(name); err != nil {
		return toErrno(err)
	}
	if strings.HasPrefix(name, whiteoutPrefix) {
		return syscall.EPERM
	}
	return 0
}

// upperStat is the upper layer's entry for master path p, if it has one.
func (v *View) upperStat(p string) (*syscall.Stat_t, bool) {
	if v.up == nil {
		return nil, false
	}
	rel, err := v.upperRel(p)
	if err != nil {
		return nil, false
	}
	st, err := v.up.lstat(rel)
	return st, err == nil
}

// whitedOut says whether master path p was removed on this node.
func (v *View) whitedOut(p string) bool {
	if v.up == nil || p == v.root {
		return false
	}
	_, ok := v.upperStat(path.Join(path.Dir(p), whiteoutPrefix+path.Base(p)))
	return ok
}

// whiteOut marks name of upper directory dirfd removed (as the view, not
// as a user: the mark is the view's own).
func whiteOut(dirfd int, name string) syscall.Errno {
	fd, err := unix.Openat(dirfd, whiteoutPrefix+name, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return toErrno(err)
	}
	unix.Close(fd)
	return 0
}

// unWhiteOut takes away the mark of name in dirfd, if there is one.
func unWhiteOut(dirfd int, name string) {
	unix.Unlinkat(dirfd, whiteoutPrefix+name, 0)
}

// upperDir opens the upper directory of master directory p, making it
// and those above it with the master's owners and modes (as u sees them)
// where missing. The descriptor is the caller's to close.
func (v *View) upperDir(u user, p string) (int, syscall.Errno) {
	rel, err := v.upperRel(p)
	if err != nil {
		return -1, toErrno(err)
	}
	fd, err := v.up.dir(rel)
	if err == nil || !errors.Is(err, unix.ENOENT) || rel == "" {
		// A symlink or a file where a directory should be is ELOOP or
		// ENOTDIR here: never followed, never replaced.
		return fd, toErrno(err)
	}
	pfd, e := v.upperDir(u, path.Dir(p))
	if e != 0 {
		return -1, e
	}
	defer unix.Close(pfd)
	st, e := v.lstat(u, p)
	if e != 0 {
		return -1, e
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return -1, syscall.ENOTDIR
	}
	name := path.Base(p)
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil && err != unix.EEXIST {
		return -1, toErrno(err)
	}
	// Root may open any directory: owner and mode are set through the
	// descriptor, never through a name.
	dfd, err := openBeneath(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, toErrno(err)
	}
	unix.Fchown(dfd, int(st.UID), int(st.GID))
	unix.Fchmod(dfd, st.Mode&0o7777) // raw bits: setuid, setgid, sticky too
	return dfd, 0
}

// copyUp copies master file p into the upper layer as u reads it, with the
// master's owner, mode and times: from then on the node's copy is the file.
func (v *View) copyUp(u user, p string) syscall.Errno {
	if _, ok := v.upperStat(p); ok {
		return 0
	}
	dfd, e := v.upperDir(u, path.Dir(p))
	if e != 0 {
		return e
	}
	defer unix.Close(dfd)
	st, e := v.lstat(u, p)
	if e != 0 {
		return e
	}
	name := path.Base(p)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFLNK:
		var target string
		err := v.sessions.do(u, func(c *sftp.Client) (err error) {
			target, err = c.ReadLink(p)
			return err
		})
		if err != nil {
			return v.errno("readlink", u, p, err)
		}
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return toErrno(err)
		}
		unix.Fchownat(dfd, name, int(st.UID), int(st.GID), unix.AT_SYMLINK_NOFOLLOW)
		return 0
	default:
		return syscall.EPERM // directories stay merged; devices are the node's
	}
	// An unnamed file, named only when complete: no name of a user's is
	// ever opened, truncated or chmodded by the view.
	fd, err := unix.Openat(dfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return v.errno("copy up", u, p, err)
	}
	dst := os.NewFile(uintptr(fd), p)
	defer dst.Close()
	err = v.sessions.do(u, func(c *sftp.Client) error {
		src, err := c.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		if _, err := dst.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := dst.Truncate(0); err != nil {
			return err
		}
		_, err = io.Copy(dst, src)
		return err
	})
	if err == nil {
		dst.Chown(int(st.UID), int(st.GID))
		err = unix.Fchmod(fd, st.Mode&0o7777)
	}
	if err == nil {
		err = unix.Linkat(fd, "", dfd, name, unix.AT_EMPTY_PATH)
		if err == unix.EEXIST {
			err = nil // copied up meanwhile by another request
		}
	}
	if err != nil {
		return v.errno("copy up", u, p, err)
	}
	return 0
}

// withUpper merges the upper layer's directory of master path p into the
// master's listing: its entries added or shown instead, whiteouts' names
// taken out.
func (v *View) withUpper(p string, list []fuse.DirEntry) []fuse.DirEntry {
	if v.up == nil {
		return list
	}
	ents, err := v.upperList(p)
	if err != nil {
		return list
	}
	gone := map[string]bool{}
	mine := map[string]uint32{}
	for _, e := range ents {
		if name, ok := strings.CutPrefix(e.Name(), whiteoutPrefix); ok {
			gone[name] = true
			continue
		}
		mine[e.Name()] = uint32(fileType(e.Type()))
	}
	out := list[:0]
	for _, de := range list {
		if m, ok := mine[de.Name]; ok {
			de.Mode = m
			de.Ino = 0
			delete(mine, de.Name)
		} else if gone[de.Name] {
			continue
		}
		out = append(out, de)
	}
	for name, m := range mine {
		out = append(out, fuse.DirEntry{Name: name, Mode: m})
	}
	return out
}

// upperList lists the upper directory of master path p.
func (v *View) upperList(p string) ([]os.DirEntry, error) {
	rel, err := v.upperRel(p)
	if err != nil {
		return nil, err
	}
	return listBeneath(v.up.root, rel)
}

// listBeneath lists directory rel beneath dirfd.
func listBeneath(dirfd int, rel string) ([]os.DirEntry, error) {
	fd, err := openBeneath(dirfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	return f.ReadDir(-1)
}

// fileType is the S_IFMT bits of a directory entry's type.
func fileType(t os.FileMode) int {
	switch {
	case t&os.ModeDir != 0:
		return syscall.S_IFDIR
	case t&os.ModeSymlink != 0:
		return syscall.S_IFLNK
	case t&os.ModeNamedPipe != 0:
		return syscall.S_IFIFO
	case t&os.ModeSocket != 0:
		return syscall.S_IFSOCK
	case t&os.ModeCharDevice != 0:
		return syscall.S_IFCHR
	case t&os.ModeDevice != 0:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

// attrFromStat fills a with st of an upper entry; the inode number is the
// view's (go-fuse sets it).
func attrFromStat(a *fuse.Attr, st *syscall.Stat_t) {
	a.FromStat(st)
	a.Ino = 0
}

// upperInode is the inode of entry name of parent, an entry of the upper
// layer with attributes st: the one the kernel has, when it is still that
// entry, so that a directory held as a working directory stays its
// parent's child.
func (v *View) upperInode(ctx context.Context, parent *fs.Inode, name string, st *syscall.Stat_t) *fs.Inode {
	mode := st.Mode & syscall.S_IFMT
	if ch := parent.GetChild(name); ch != nil && ch.StableAttr().Mode == mode {
		if un, ok := ch.Operations().(*upperNode); ok && un.ino == st.Ino {
			return ch
		}
	}
	return parent.NewInode(ctx, &upperNode{v: v, ino: st.Ino}, fs.StableAttr{Mode: mode})
}
