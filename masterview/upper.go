package masterview

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"
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
// its files, the upper files' own, whose owner is the process that made
// them.
const whiteoutPrefix = ".bproc-wh."

// upperOf is where master path p lives in the upper layer.
func (v *View) upperOf(p string) string {
	rel := strings.TrimPrefix(p, v.root)
	return filepath.Join(v.upper, rel)
}

// upperStat is the upper layer's entry for master path p, if it has one.
func (v *View) upperStat(p string) (*syscall.Stat_t, bool) {
	if v.upper == "" {
		return nil, false
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(v.upperOf(p), &st); err != nil {
		return nil, false
	}
	return &st, true
}

// whitedOut says whether master path p was removed on this node.
func (v *View) whitedOut(p string) bool {
	if v.upper == "" {
		return false
	}
	_, err := os.Lstat(filepath.Join(v.upperOf(path.Dir(p)), whiteoutPrefix+path.Base(p)))
	return err == nil
}

// upperNode is an inode of the upper layer: go-fuse's loopback of it.
func (v *View) upperNode(ctx context.Context, parent *fs.Inode, st *syscall.Stat_t) *fs.Inode {
	return parent.NewInode(ctx, &fs.LoopbackNode{RootData: v.upperRoot}, fs.StableAttr{Mode: st.Mode & syscall.S_IFMT})
}

// upperDir makes the upper directory of master directory p, and those
// above it, with the master's owners and modes (as u sees them), and
// returns its path.
func (v *View) upperDir(u user, p string) (string, syscall.Errno) {
	up := v.upperOf(p)
	if fi, err := os.Stat(up); err == nil && fi.IsDir() {
		return up, 0
	}
	if p != v.root {
		if _, e := v.upperDir(u, path.Dir(p)); e != 0 {
			return "", e
		}
	}
	var st *sftp.FileStat
	if p != v.root { // the root is the mount point's, whoever asks
		var e syscall.Errno
		if st, e = v.lstat(u, p); e != 0 {
			return "", e
		}
	}
	mode, uid, gid := uint32(0o755), uint32(0), uint32(0)
	if st != nil {
		mode, uid, gid = st.Mode&0o7777, st.UID, st.GID
	}
	if err := os.Mkdir(up, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", errno(err)
	}
	os.Lchown(up, int(uid), int(gid))
	syscall.Chmod(up, mode&0o7777) // raw bits: setuid, setgid, sticky too
	return up, 0
}

// made finishes an entry a caller made in the upper layer: owned by the
// caller, no longer whited out, and an inode for it.
func (n *node) made(ctx context.Context, upPath, p string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if c, ok := fuse.FromContext(ctx); ok {
		os.Lchown(upPath, int(c.Uid), int(c.Gid))
	}
	os.Remove(filepath.Join(filepath.Dir(upPath), whiteoutPrefix+path.Base(p)))
	var st syscall.Stat_t
	if err := syscall.Lstat(upPath, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	out.Attr.FromStat(&st)
	return n.v.upperNode(ctx, &n.Inode, &st), 0
}

// childPath is the master path of name in n, with n's upper directory.
func (n *node) childPath(ctx context.Context, name string) (p, upDir string, e syscall.Errno) {
	if n.v.upper == "" {
		return "", "", syscall.EROFS
	}
	dir, e := n.path()
	if e != 0 {
		return "", "", e
	}
	if upDir, e = n.v.upperDir(caller(ctx), dir); e != 0 {
		return "", "", e
	}
	return path.Join(dir, name), upDir, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return nil, nil, 0, e
	}
	up := filepath.Join(upDir, name)
	fd, err := syscall.Open(up, int(flags)|os.O_CREATE, mode)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	ch, e := n.made(ctx, up, p, out)
	if e != 0 {
		syscall.Close(fd)
		return nil, nil, 0, e
	}
	return ch, fs.NewLoopbackFile(fd), 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return nil, e
	}
	if _, err := n.v.lstat(caller(ctx), p); err == 0 && !n.v.whitedOut(p) {
		return nil, syscall.EEXIST
	}
	up := filepath.Join(upDir, name)
	if err := syscall.Mkdir(up, mode); err != nil {
		return nil, fs.ToErrno(err)
	}
	return n.made(ctx, up, p, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return nil, e
	}
	up := filepath.Join(upDir, name)
	if err := syscall.Symlink(target, up); err != nil {
		return nil, fs.ToErrno(err)
	}
	return n.made(ctx, up, p, out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return nil, e
	}
	up := filepath.Join(upDir, name)
	if err := syscall.Mknod(up, mode, int(rdev)); err != nil {
		return nil, fs.ToErrno(err)
	}
	return n.made(ctx, up, p, out)
}

func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM // across the layers there is no one inode to link
}

// remove removes name from n: its upper entry, and a master entry behind a
// whiteout.
func (n *node) remove(ctx context.Context, name string, rm func(string) error) syscall.Errno {
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return e
	}
	up := filepath.Join(upDir, name)
	_, inUpper := n.v.upperStat(p)
	_, me := n.v.lstat(caller(ctx), p)
	onMaster := me == 0 && !n.v.whitedOut(p)
	if !inUpper && !onMaster {
		return syscall.ENOENT
	}
	if inUpper {
		if err := rm(up); err != nil {
			return fs.ToErrno(err)
		}
	}
	if onMaster {
		f, err := os.OpenFile(filepath.Join(upDir, whiteoutPrefix+name), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return errno(err)
		}
		f.Close()
	}
	if ch := n.GetChild(name); ch != nil {
		n.RmChild(name)
	}
	return 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, syscall.Unlink)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, syscall.Rmdir)
}

// Rename moves an entry within the upper layer: a master file is copied up
// first and whited out after.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 {
		return syscall.ENOTSUP // RENAME_EXCHANGE and RENAME_NOREPLACE
	}
	p, upDir, e := n.childPath(ctx, name)
	if e != 0 {
		return e
	}
	var dstDir string
	switch np := newParent.(type) {
	case *node:
		d, e := np.path()
		if e != 0 {
			return e
		}
		if dstDir, e = n.v.upperDir(caller(ctx), d); e != 0 {
			return e
		}
	case *fs.LoopbackNode:
		dstDir = filepath.Join(n.v.upper, np.EmbeddedInode().Path(n.v.rootInode()))
	default:
		return syscall.EXDEV
	}
	src := filepath.Join(upDir, name)
	_, inUpper := n.v.upperStat(p)
	if !inUpper {
		if e := n.v.copyUp(caller(ctx), p); e != 0 {
			return e
		}
	}
	if err := syscall.Rename(src, filepath.Join(dstDir, newName)); err != nil {
		return fs.ToErrno(err)
	}
	os.Remove(filepath.Join(dstDir, whiteoutPrefix+newName))
	if _, me := n.v.lstat(caller(ctx), p); me == 0 {
		f, err := os.OpenFile(filepath.Join(upDir, whiteoutPrefix+name), os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
		}
	}
	return 0
}

// copyUp copies master file p into the upper layer as u reads it, with the
// master's owner, mode and times: from then on the node's copy is the file.
func (v *View) copyUp(u user, p string) syscall.Errno {
	if _, ok := v.upperStat(p); ok {
		return 0
	}
	upDir, e := v.upperDir(u, path.Dir(p))
	if e != 0 {
		return e
	}
	st, e := v.lstat(u, p)
	if e != 0 {
		return e
	}
	up := filepath.Join(upDir, path.Base(p))
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
		if err := os.Symlink(target, up); err != nil {
			return errno(err)
		}
		os.Lchown(up, int(st.UID), int(st.GID))
		return 0
	default:
		return syscall.EPERM // directories stay merged; devices are the node's
	}
	tmp := up + ".bproc-new"
	err := v.sessions.do(u, func(c *sftp.Client) error {
		src, err := c.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(dst, src)
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err == nil {
		os.Lchown(tmp, int(st.UID), int(st.GID))
		err = syscall.Chmod(tmp, st.Mode&0o7777)
	}
	if err == nil {
		err = os.Rename(tmp, up)
	}
	if err != nil {
		os.Remove(tmp)
		return v.errno("copy up", u, p, err)
	}
	return 0
}

func (v *View) rootInode() *fs.Inode { return v.upperRoot.RootNode.EmbeddedInode() }

// withUpper merges the upper layer's directory of master path p into the
// master's listing: its entries added or shown instead, whiteouts' names
// taken out.
func (v *View) withUpper(p string, list []fuse.DirEntry) []fuse.DirEntry {
	if v.upper == "" {
		return list
	}
	ents, err := os.ReadDir(v.upperOf(p))
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
		if strings.HasSuffix(e.Name(), ".bproc-new") {
			continue // a copy-up under way
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
