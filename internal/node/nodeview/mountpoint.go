package nodeview

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// mountPoint is a name of Options.MountPoints: an empty directory whatever
// the master has there, answered without asking the master, so that the
// node can mount its own file systems on it (/proc, /tmp) before any user
// has a session, and so that the kernel never finds it changed (a mount
// point whose dentry is invalidated loses its mount).
type mountPoint struct {
	fs.Inode
}

var (
	_ fs.NodeGetattrer      = (*mountPoint)(nil)
	_ fs.NodeLookuper       = (*mountPoint)(nil)
	_ fs.NodeOpendirHandler = (*mountPoint)(nil)
)

func (*mountPoint) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o755
	out.Nlink = 2
	return 0
}

func (*mountPoint) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}

func (*mountPoint) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{list: []fuse.DirEntry{{Name: ".", Mode: syscall.S_IFDIR}, {Name: "..", Mode: syscall.S_IFDIR}}}, 0, 0
}

// lookupMountPoint returns the mount point p, when p is one.
func (n *node) lookupMountPoint(ctx context.Context, name, p string, out *fuse.EntryOut) (*fs.Inode, bool) {
	if !n.v.mountPoints[p] {
		return nil, false
	}
	out.Mode = syscall.S_IFDIR | 0o755
	out.Nlink = 2
	// Never looked up again: the kernel keeps the mount on it.
	out.SetEntryTimeout(1 << 62)
	out.SetAttrTimeout(1 << 62)
	if ch := n.GetChild(name); ch != nil {
		if _, ok := ch.Operations().(*mountPoint); ok {
			return ch, true
		}
	}
	return n.NewInode(ctx, &mountPoint{}, fs.StableAttr{Mode: syscall.S_IFDIR}), true
}

// withMountPoints adds the mount points under dir p that the master's
// listing lacks, and marks those it has as directories.
func (v *View) withMountPoints(p string, list []fuse.DirEntry) []fuse.DirEntry {
	for mp := range v.mountPoints {
		if path.Dir(mp) != p {
			continue
		}
		name, found := path.Base(mp), false
		for i := range list {
			if list[i].Name == name {
				list[i].Mode, list[i].Ino, found = syscall.S_IFDIR, 0, true
			}
		}
		if !found {
			list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR})
		}
	}
	return list
}
