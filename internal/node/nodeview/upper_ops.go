package nodeview

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// upperParent is a directory of the view that holds entries of the upper
// layer: a merged directory of the master (node) or one of the upper layer
// only (upperNode).
type upperParent interface {
	fs.InodeEmbedder
	// upperDirFD opens the directory in the upper layer, made first for a
	// master directory, as a descriptor for *at calls.
	upperDirFD(ctx context.Context) (int, syscall.Errno)
	// masterChild is the master path of entry name, "" when the directory
	// has no master side.
	masterChild(name string) (string, syscall.Errno)
}

func (n *node) upperDirFD(ctx context.Context) (int, syscall.Errno) {
	if n.v.up == nil {
		return -1, syscall.EROFS
	}
	dir, e := n.path()
	if e != 0 {
		return -1, e
	}
	return n.v.upperDir(caller(ctx), dir)
}

func (n *node) masterChild(name string) (string, syscall.Errno) {
	dir, e := n.path()
	if e != 0 {
		return "", e
	}
	return path.Join(dir, name), 0
}

// onMaster says whether the master shows p to u and the node has not
// removed it.
func (v *View) onMaster(ctx context.Context, p string) bool {
	if p == "" {
		return false
	}
	_, e := v.lstat(caller(ctx), p)
	return e == 0 && !v.whitedOut(p)
}

// newEntry makes entry name of dir with mk, run on dir's upper directory
// as the caller, and returns its inode.
func (v *View) newEntry(ctx context.Context, dir upperParent, name string, out *fuse.EntryOut, mk func(dirfd int) error) (*fs.Inode, syscall.Errno) {
	if e := userName(name); e != 0 {
		return nil, e
	}
	dfd, e := dir.upperDirFD(ctx)
	if e != 0 {
		return nil, e
	}
	defer unix.Close(dfd)
	if e := asCaller(ctx, func() error { return mk(dfd) }); e != 0 {
		return nil, e
	}
	unWhiteOut(dfd, name)
	st, err := fstatat(dfd, name)
	if err != nil {
		return nil, toErrno(err)
	}
	attrFromStat(&out.Attr, st)
	return v.upperInode(ctx, dir.EmbeddedInode(), name, st), 0
}

func (v *View) create(ctx context.Context, dir upperParent, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	fd := -1
	ch, e := v.newEntry(ctx, dir, name, out, func(dfd int) (err error) {
		fd, err = unix.Openat(dfd, name, int(flags)|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		return err
	})
	if e != 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, nil, 0, e
	}
	return ch, fs.NewLoopbackFile(fd), 0, 0
}

func (v *View) mkdir(ctx context.Context, dir upperParent, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if v.up == nil {
		return nil, syscall.EROFS
	}
	p, e := dir.masterChild(name)
	if e != 0 {
		return nil, e
	}
	if v.onMaster(ctx, p) {
		return nil, syscall.EEXIST
	}
	return v.newEntry(ctx, dir, name, out, func(dfd int) error { return unix.Mkdirat(dfd, name, mode) })
}

func (v *View) mknod(ctx context.Context, dir upperParent, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return v.newEntry(ctx, dir, name, out, func(dfd int) error { return unix.Mknodat(dfd, name, mode, int(rdev)) })
}

func (v *View) symlink(ctx context.Context, dir upperParent, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return v.newEntry(ctx, dir, name, out, func(dfd int) error { return unix.Symlinkat(target, dfd, name) })
}

// link links an entry of the upper layer; across the layers there is no
// one inode to link.
func (v *View) link(ctx context.Context, dir upperParent, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, ok := target.(*upperNode)
	if !ok {
		return nil, syscall.EPERM
	}
	tfd, tname, e := t.parentFD()
	if e != 0 {
		return nil, e
	}
	defer unix.Close(tfd)
	return v.newEntry(ctx, dir, name, out, func(dfd int) error { return unix.Linkat(tfd, tname, dfd, name, 0) })
}

// remove removes name from dir: its upper entry, as the caller, and a
// master entry behind a whiteout.
func (v *View) remove(ctx context.Context, dir upperParent, name string, flags int) syscall.Errno {
	if e := userName(name); e != 0 {
		return e
	}
	p, e := dir.masterChild(name)
	if e != 0 {
		return e
	}
	dfd, e := dir.upperDirFD(ctx)
	if e != 0 {
		return e
	}
	defer unix.Close(dfd)
	_, err := fstatat(dfd, name)
	inUpper := err == nil
	onMaster := v.onMaster(ctx, p)
	if !inUpper && !onMaster {
		return syscall.ENOENT
	}
	if inUpper {
		if e := asCaller(ctx, func() error { return unix.Unlinkat(dfd, name, flags) }); e != 0 {
			return e
		}
	}
	if onMaster {
		return whiteOut(dfd, name)
	}
	return 0
}

// rename moves an entry within the upper layer, as the caller: a master
// file is copied up first and whited out after.
func (v *View) rename(ctx context.Context, dir upperParent, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if v.up == nil {
		return syscall.EROFS
	}
	if flags != 0 {
		return syscall.ENOTSUP // RENAME_EXCHANGE and RENAME_NOREPLACE
	}
	dst, ok := newParent.(upperParent)
	if !ok {
		return syscall.EXDEV
	}
	if e := userName(name); e != 0 {
		return e
	}
	if e := userName(newName); e != 0 {
		return e
	}
	p, e := dir.masterChild(name)
	if e != 0 {
		return e
	}
	if p != "" {
		if _, inUpper := v.upperStat(p); !inUpper {
			if e := v.copyUp(caller(ctx), p); e != 0 {
				return e
			}
		}
	}
	sfd, e := dir.upperDirFD(ctx)
	if e != 0 {
		return e
	}
	defer unix.Close(sfd)
	dfd, e := dst.upperDirFD(ctx)
	if e != 0 {
		return e
	}
	defer unix.Close(dfd)
	if e := asCaller(ctx, func() error { return unix.Renameat(sfd, name, dfd, newName) }); e != 0 {
		return e
	}
	unWhiteOut(dfd, newName)
	if p != "" {
		if _, e := v.lstat(caller(ctx), p); e == 0 {
			whiteOut(sfd, name)
		}
	}
	return 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return n.v.create(ctx, n, name, flags, mode, out)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.mkdir(ctx, n, name, mode, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.symlink(ctx, n, target, name, out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.mknod(ctx, n, name, mode, rdev, out)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.link(ctx, n, target, name, out)
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.v.remove(ctx, n, name, 0)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.v.remove(ctx, n, name, unix.AT_REMOVEDIR)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.v.rename(ctx, n, name, newParent, newName, flags)
}
