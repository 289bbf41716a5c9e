package nodeview

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"
)

// OpendirHandle lists the directory on the master in the caller's session
// when it is opened, so that a directory the caller may not read fails at
// opendir with EACCES, as it would on the master, and not halfway through
// the listing. A listing of a directory the master watches is kept
// (grant.go), and the kernel may keep it too.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return nil, 0, e
	}
	if cached, ok := n.listOf(u); ok {
		// Listed by this user before, and unchanged since (grant.go):
		// the kernel may keep the listing and read it from its cache
		// next time (no READDIR). An opendir answered without
		// FOPEN_KEEP_CACHE (a listing asked of the master: the first,
		// another user's, one after a change) drops what it kept; the
		// node's own changes (the upper layer, made through this mount)
		// drop it in the kernel itself.
		return &dirHandle{list: n.v.merged(n, p, cached)}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
	}
	gen := n.v.gen.Load()
	var list []fuse.DirEntry
	err := n.v.sessions.do(u, func(c *sftp.Client) error {
		// Not ReadDirContext: the kernel interrupts a request whenever its
		// caller gets a signal, and Go programs get SIGURG all the time.
		fis, err := c.ReadDir(p)
		if err != nil {
			return err
		}
		list = make([]fuse.DirEntry, 0, len(fis)+2)
		list = append(list,
			fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR},
			fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
		for _, fi := range fis {
			name := fi.Name()
			if n.v.exclude[path.Join(p, name)] {
				continue
			}
			list = append(list, fuse.DirEntry{Name: name, Mode: fileStat(fi).Mode & syscall.S_IFMT})
		}
		return nil
	})
	if err != nil {
		return nil, 0, n.v.errno("readdir", u, p, err)
	}
	n.grantList(gen, u, list)
	return &dirHandle{list: n.v.merged(n, p, list)}, 0, 0
}

// merged is the master's listing of directory n (master path p) as this
// node shows it: with the inode numbers the kernel knows, the mount
// points, and the upper layer's entries.
func (v *View) merged(n *node, p string, master []fuse.DirEntry) []fuse.DirEntry {
	list := make([]fuse.DirEntry, 0, len(master)+2)
	for _, de := range master {
		// A name the kernel knows keeps the inode number stat shows;
		// others are "unknown" until looked up.
		if ch := n.GetChild(de.Name); ch != nil && de.Name != "." && de.Name != ".." {
			de.Ino = ch.StableAttr().Ino
		}
		list = append(list, de)
	}
	list = v.withMountPoints(p, list)
	return v.withUpper(p, list)
}

// dirHandle is an open directory: its listing as of opendir.
type dirHandle struct {
	list []fuse.DirEntry
	pos  int
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
)

// Readdirent returns the next entry; its offset is its position, which is
// what Seekdir (rewinddir, telldir/seekdir) gets back.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if d.pos >= len(d.list) {
		return nil, 0
	}
	de := d.list[d.pos]
	d.pos++
	de.Off = uint64(d.pos)
	return &de, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(d.list)) {
		return syscall.EINVAL
	}
	d.pos = int(off)
	return 0
}
