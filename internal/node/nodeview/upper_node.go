package nodeview

import (
	"context"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// upperNode is an entry of the upper layer only: made on the node, or a
// master file copied up. It is the entry its name held when it was looked
// up or made, its inode number in the upper directory: a request reaching
// it when its name holds another entry, or when it is no longer its
// parent's child, answers ESTALE.
type upperNode struct {
	fs.Inode
	v   *View
	ino uint64
}

var (
	_ fs.NodeLookuper       = (*upperNode)(nil)
	_ fs.NodeGetattrer      = (*upperNode)(nil)
	_ fs.NodeSetattrer      = (*upperNode)(nil)
	_ fs.NodeReadlinker     = (*upperNode)(nil)
	_ fs.NodeOpener         = (*upperNode)(nil)
	_ fs.NodeOpendirHandler = (*upperNode)(nil)
	_ fs.NodeCreater        = (*upperNode)(nil)
	_ fs.NodeMkdirer        = (*upperNode)(nil)
	_ fs.NodeMknoder        = (*upperNode)(nil)
	_ fs.NodeSymlinker      = (*upperNode)(nil)
	_ fs.NodeLinker         = (*upperNode)(nil)
	_ fs.NodeUnlinker       = (*upperNode)(nil)
	_ fs.NodeRmdirer        = (*upperNode)(nil)
	_ fs.NodeRenamer        = (*upperNode)(nil)
)

// rel is n's path relative to the view's root, which is its path in the
// upper directory.
func (n *upperNode) rel() (string, syscall.Errno) { return inodeRel(&n.Inode) }

// openSelf opens n's entry with flags (as the view, unless run as a
// caller), checked to be n's.
func (n *upperNode) openSelf(flags int) (int, syscall.Errno) {
	rel, e := n.rel()
	if e != 0 {
		return -1, e
	}
	fd, err := n.v.up.open(rel, flags, 0)
	if err != nil {
		return -1, toErrno(err)
	}
	if e := n.check(fd); e != 0 {
		unix.Close(fd)
		return -1, e
	}
	return fd, 0
}

// check says whether fd is n's entry.
func (n *upperNode) check(fd int) syscall.Errno {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return toErrno(err)
	}
	if st.Ino != n.ino || st.Mode&syscall.S_IFMT != n.Mode() {
		return syscall.ESTALE
	}
	return 0
}

// parentFD opens n's parent's upper directory, with n's name in it,
// checked to be n's entry.
func (n *upperNode) parentFD() (int, string, syscall.Errno) {
	rel, e := n.rel()
	if e != 0 {
		return -1, "", e
	}
	dir, name := path.Split(rel)
	fd, err := n.v.up.dir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return -1, "", toErrno(err)
	}
	st, err := fstatat(fd, name)
	if err == nil && (st.Ino != n.ino || st.Mode&syscall.S_IFMT != n.Mode()) {
		err = syscall.ESTALE
	}
	if err != nil {
		unix.Close(fd)
		return -1, "", toErrno(err)
	}
	return fd, name, 0
}

func (n *upperNode) upperDirFD(ctx context.Context) (int, syscall.Errno) {
	return n.openSelf(unix.O_PATH | unix.O_DIRECTORY)
}

// masterChild: a directory of the upper layer only has no master side.
func (n *upperNode) masterChild(string) (string, syscall.Errno) { return "", 0 }

func (n *upperNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if e := userName(name); e != 0 {
		return nil, syscall.ENOENT
	}
	dfd, e := n.openSelf(unix.O_PATH | unix.O_DIRECTORY)
	if e != 0 {
		return nil, e
	}
	defer unix.Close(dfd)
	st, err := fstatat(dfd, name)
	if err != nil {
		return nil, toErrno(err)
	}
	attrFromStat(&out.Attr, st)
	return n.v.upperInode(ctx, &n.Inode, name, st), 0
}

func (n *upperNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if fg, ok := f.(fs.FileGetattrer); ok {
		return fg.Getattr(ctx, out)
	}
	fd, e := n.openSelf(unix.O_PATH)
	if e != 0 {
		return e
	}
	defer unix.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return toErrno(err)
	}
	attrFromStat(&out.Attr, &st)
	return 0
}

func (n *upperNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	dfd, name, e := n.parentFD()
	if e != 0 {
		return e
	}
	defer unix.Close(dfd)
	return n.v.setattrAt(ctx, dfd, name, f, in, out)
}

func (n *upperNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	fd, e := n.openSelf(unix.O_PATH)
	if e != 0 {
		return nil, e
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	m, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return nil, toErrno(err)
	}
	return buf[:m], 0
}

func (n *upperNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	rel, e := n.rel()
	if e != 0 {
		return nil, 0, e
	}
	return n.v.openUpper(ctx, rel, flags, n.ino)
}

func (n *upperNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fd, e := n.openSelf(unix.O_PATH | unix.O_DIRECTORY)
	if e != 0 {
		return nil, 0, e
	}
	defer unix.Close(fd)
	ents, err := listBeneath(fd, "")
	if err != nil {
		return nil, 0, toErrno(err)
	}
	list := make([]fuse.DirEntry, 0, len(ents)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), whiteoutPrefix) {
			continue
		}
		list = append(list, fuse.DirEntry{Name: de.Name(), Mode: uint32(fileType(de.Type()))})
	}
	return &dirHandle{list: list}, 0, 0
}

func (n *upperNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return n.v.create(ctx, n, name, flags, mode, out)
}

func (n *upperNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.mkdir(ctx, n, name, mode, out)
}

func (n *upperNode) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.mknod(ctx, n, name, mode, rdev, out)
}

func (n *upperNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.symlink(ctx, n, target, name, out)
}

func (n *upperNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.v.link(ctx, n, target, name, out)
}

func (n *upperNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.v.remove(ctx, n, name, 0)
}

func (n *upperNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.v.remove(ctx, n, name, unix.AT_REMOVEDIR)
}

func (n *upperNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.v.rename(ctx, n, name, newParent, newName, flags)
}

// openUpper opens upper entry rel as the caller; ino, when not 0, is the
// entry it must be. A truncating open truncates only once the entry is
// known to be that one.
func (v *View) openUpper(ctx context.Context, rel string, flags uint32, ino uint64) (fs.FileHandle, uint32, syscall.Errno) {
	fd := -1
	e := asCaller(ctx, func() error {
		var err error
		fd, err = v.up.open(rel, int(flags)&^(unix.O_CREAT|unix.O_TRUNC|unix.O_EXCL), 0)
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return err
		}
		if ino != 0 && st.Ino != ino {
			return syscall.ESTALE
		}
		if flags&unix.O_TRUNC != 0 && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			return unix.Ftruncate(fd, 0)
		}
		return nil
	})
	if e != 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, 0, e
	}
	return fs.NewLoopbackFile(fd), 0, 0
}

// setattrAt changes entry name of upper directory dirfd as the caller
// asks, as the caller: a handle open for writing changes through its
// descriptor.
func (v *View) setattrAt(ctx context.Context, dirfd int, name string, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if fs, ok := f.(fs.FileSetattrer); ok {
		var e syscall.Errno
		if ce := asCaller(ctx, func() error {
			e = fs.Setattr(ctx, in, out)
			return nil
		}); ce != 0 {
			return ce
		}
		return e
	}
	e := asCaller(ctx, func() error {
		if m, ok := in.GetMode(); ok {
			err := unix.Fchmodat(dirfd, name, m&0o7777, unix.AT_SYMLINK_NOFOLLOW)
			if err == unix.EOPNOTSUPP {
				// Before Linux 6.6 (no fchmodat2), or a symlink, whose
				// mode means nothing: only what is not a symlink now
				// is changed, and as the caller whatever it is.
				st, serr := fstatat(dirfd, name)
				if serr != nil {
					return serr
				}
				if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
					return unix.EOPNOTSUPP
				}
				err = unix.Fchmodat(dirfd, name, m&0o7777, 0)
			}
			if err != nil {
				return err
			}
		}
		uid, uok := in.GetUID()
		gid, gok := in.GetGID()
		if uok || gok {
			su, sg := -1, -1
			if uok {
				su = int(uid)
			}
			if gok {
				sg = int(gid)
			}
			if err := unix.Fchownat(dirfd, name, su, sg, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if sz, ok := in.GetSize(); ok {
			fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = unix.Ftruncate(fd, int64(sz))
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
		at, aok := in.GetATime()
		mt, mok := in.GetMTime()
		if aok || mok {
			ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
			if aok {
				ts[0] = timespec(at)
			}
			if mok {
				ts[1] = timespec(mt)
			}
			if err := unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		return nil
	})
	if e != 0 {
		return e
	}
	st, err := fstatat(dirfd, name)
	if err != nil {
		return toErrno(err)
	}
	attrFromStat(&out.Attr, st)
	return 0
}

func timespec(t time.Time) unix.Timespec { return unix.NsecToTimespec(t.UnixNano()) }
