package nodeview

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Setattr changes the node's copy of the file: a master file is copied up
// first (see upper.go). Without an upper layer the view is read-only.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.v.up == nil {
		return syscall.EROFS
	}
	if n.IsRoot() {
		return syscall.EPERM // the mount point's, not a file's
	}
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return e
	}
	if n.Mode() == syscall.S_IFDIR {
		fd, e := n.v.upperDir(u, p)
		if e != 0 {
			return e
		}
		unix.Close(fd)
	} else if e := n.v.copyUp(u, p); e != 0 {
		return e
	}
	dfd, e := n.v.upperDir(u, path.Dir(p))
	if e != 0 {
		return e
	}
	defer unix.Close(dfd)
	return n.v.setattrAt(ctx, dfd, path.Base(p), f, in, out)
}
