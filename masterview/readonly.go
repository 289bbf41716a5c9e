package masterview

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Setattr changes the node's copy of the file: a master file is copied up
// first (see upper.go). Without an upper layer the view is read-only.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.v.upper == "" {
		return syscall.EROFS
	}
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return e
	}
	var up string
	if n.Mode() == syscall.S_IFDIR {
		if up, e = n.v.upperDir(u, p); e != 0 {
			return e
		}
	} else {
		if e := n.v.copyUp(u, p); e != 0 {
			return e
		}
		up = n.v.upperOf(p)
	}
	if m, ok := in.GetMode(); ok {
		if err := syscall.Chmod(up, m); err != nil {
			return fs.ToErrno(err)
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
		if err := os.Lchown(up, su, sg); err != nil {
			return fs.ToErrno(err)
		}
	}
	if sz, ok := in.GetSize(); ok {
		if err := syscall.Truncate(up, int64(sz)); err != nil {
			return fs.ToErrno(err)
		}
	}
	at, aok := in.GetATime()
	mt, mok := in.GetMTime()
	if aok || mok {
		var st syscall.Stat_t
		syscall.Lstat(up, &st)
		if !aok {
			at = time.Unix(st.Atim.Unix())
		}
		if !mok {
			mt = time.Unix(st.Mtim.Unix())
		}
		if err := os.Chtimes(up, at, mt); err != nil {
			return fs.ToErrno(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(up, &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStat(&st)
	return 0
}
