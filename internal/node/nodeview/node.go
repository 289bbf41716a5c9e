package nodeview

import (
	"context"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/contentcache"
)

// node is a file, directory or symlink of the view. It keeps no
// attributes: each request asks the master, as the caller.
//
// A regular file's inode is one version of the file, (size, mtime) as its
// lookup found it. When the master's file changes, the next lookup makes a
// new inode, and requests that reach the old one by a name the kernel still
// trusts get ESTALE, on which the kernel looks the name up again and
// retries. Programs that opened the old version keep its inode, its page
// cache and its size; the new version starts with fresh ones. One inode
// serving two versions would mix them: the kernel's page cache and i_size
// belong to the inode, not to the open file.
type node struct {
	fs.Inode
	v *View

	// The version of a regular file; set before the inode is published.
	size  uint64
	mtime uint32

	// The content of a regular file, as its first open found it: a file
	// rewritten on the master with its size and mtime put back has the
	// same version above, but other content, and so a new inode (its
	// page cache and its copy are another content's).
	mu    sync.Mutex
	sum   contentcache.Sum
	stale bool // another content was found: lookups make a new inode
	// tornOpen counts the open handles of torn copies of the content
	// (the file changed on the master during the fetch); tornPages: the
	// kernel's pages of the inode may hold such a copy's bytes (keepPages).
	tornOpen  int
	tornPages bool
	// watched: the last answer about n is one the master watches, and
	// grants what each user's session was answered (grant.go).
	watched bool
	grants  map[user]grant
	// list is a directory's listing on the master, while watched: shown
	// to a user whose grant says they listed it (grant.go).
	list []fuse.DirEntry
}

// sameVersion reports whether st is the version n stands for.
func (n *node) sameVersion(st *sftp.FileStat) bool {
	return st.Size == n.size && st.Mtime == n.mtime
}

// sameContent reports whether sum is the content n stands for: the first
// sum it is asked about is. A zero sum (the master gave none) tells
// nothing: its copy is the open's own.
func (n *node) sameContent(sum contentcache.Sum) bool {
	if sum.IsZero() {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.sum.IsZero():
		n.sum = sum
	case n.sum != sum:
		n.stale = true
		return false
	}
	return true
}

// isStale reports whether n was found to stand for older content.
func (n *node) isStale() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stale
}

var (
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeReadlinker     = (*node)(nil)
	_ fs.NodeAccesser       = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
)

// caller is the user a request comes from.
func caller(ctx context.Context) user {
	if c, ok := fuse.FromContext(ctx); ok {
		return user{uid: c.Uid, gid: c.Gid}
	}
	// Every request from the kernel has a caller; this is not reached.
	return user{uid: 65534, gid: 65534}
}

// path is n's master path. An inode a newer version replaced is in no
// directory any more, and has none: ESTALE.
func (n *node) path() (string, syscall.Errno) {
	rel, e := inodeRel(&n.Inode)
	if e != 0 {
		return "", e
	}
	return n.v.masterPath(rel), 0
}

// inodeRel is the path of in relative to the view's root, checked all the
// way up: every inode on it is still its parent's child by that name.
// go-fuse, replacing a child with a new inode (a new version, or a name
// made anew), keeps the old inode's record of its parent, and a process
// may still hold the old one (its working directory): through that record
// it would reach whatever the name holds now, a symlink of another user's
// making, say. It gets ESTALE instead.
func inodeRel(in *fs.Inode) (string, syscall.Errno) {
	var names []string
	for p := in; !p.IsRoot(); {
		name, parent := p.Parent()
		if parent == nil || parent.GetChild(name) != p {
			return "", syscall.ESTALE
		}
		names = append(names, name)
		p = parent
	}
	slices.Reverse(names)
	return strings.Join(names, "/"), 0
}

// lstat asks the master about p as u.
func (v *View) lstat(u user, p string) (*sftp.FileStat, syscall.Errno) {
	st, err := v.lstatErr(u, p)
	return st, v.errno("lstat", u, p, err)
}

func (v *View) lstatErr(u user, p string) (*sftp.FileStat, error) {
	var st *sftp.FileStat
	err := v.sessions.do(u, func(c *sftp.Client) error {
		fi, err := c.Lstat(p)
		if err != nil {
			return err
		}
		st = fileStat(fi)
		return nil
	})
	return st, err
}

// errno is the answer to a request for err, logged when it is a failure
// rather than an answer about the file.
func (v *View) errno(op string, u user, p string, err error) syscall.Errno {
	e := errno(err)
	if !quiet(e) {
		v.log.Warn("master view: "+op+" failed", "path", p, "uid", u.uid, "err", err)
	}
	return e
}

// fileStat is the sftp attributes in fi, which the sftp client always has.
func fileStat(fi os.FileInfo) *sftp.FileStat {
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		return st
	}
	return &sftp.FileStat{Size: uint64(fi.Size()), Mode: uint32(fi.Mode().Perm()), Mtime: uint32(fi.ModTime().Unix())}
}

// setAttr fills a with st. SFTP version 3 has no inode number, link count
// or ctime: the inode is the view's own, the link count 1 (which tells find
// and others not to count a directory's subdirectories from it), and ctime
// is mtime.
func setAttr(a *fuse.Attr, st *sftp.FileStat) {
	a.Mode = st.Mode
	a.Size = st.Size
	a.Blocks = (st.Size + 511) / 512
	a.Blksize = 4096
	a.Nlink = 1
	a.Owner = fuse.Owner{Uid: st.UID, Gid: st.GID}
	a.Atime = uint64(st.Atime)
	a.Mtime = uint64(st.Mtime)
	a.Ctime = uint64(st.Mtime)
}

// Lookup answers for name in n with an lstat in the caller's session.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	dir, e := n.path()
	if e != 0 {
		return nil, e
	}
	p := path.Join(dir, name)
	if ch, ok := n.lookupMountPoint(ctx, name, p, out); ok {
		return ch, 0
	}
	if n.v.exclude[p] {
		return nil, syscall.ENOENT
	}
	if n.v.up != nil && userName(name) != 0 {
		return nil, syscall.ENOENT // the upper layer's own names
	}
	if ust, ok := n.v.upperStat(p); ok {
		// The node's own entry: a file or directory made here, or a
		// master file copied up. A directory the master has too stays
		// this view's, so that the two are shown together.
		if ust.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			attrFromStat(&out.Attr, ust)
			return n.v.upperInode(ctx, &n.Inode, name, ust), 0
		}
		if mst, e := n.v.lstat(caller(ctx), p); e != 0 || mst.Mode&syscall.S_IFMT != syscall.S_IFDIR || n.v.whitedOut(p) {
			attrFromStat(&out.Attr, ust)
			return n.v.upperInode(ctx, &n.Inode, name, ust), 0
		}
	}
	if n.v.whitedOut(p) {
		return nil, syscall.ENOENT
	}
	u, gen := caller(ctx), n.v.gen.Load()
	st, e := n.v.lstat(u, p)
	if e == syscall.ENOENT && n.v.long > 0 && n.isWatched() && n.v.gen.Load() == gen && !n.v.mountAncestors[dir] {
		// The master tells of the name's creation: the kernel may keep
		// that it is missing (the mount's NegativeTimeout). Not in the
		// directories above a mount point, whose entries Invalidate
		// cannot drop as a whole.
		return nil, e
	}
	if e != 0 {
		if e == syscall.ENOENT {
			out.SetEntryTimeout(time.Nanosecond) // not kept at all
		}
		return nil, e
	}
	setAttr(&out.Attr, st)
	mode := st.Mode & syscall.S_IFMT
	if ch := n.GetChild(name); ch != nil && ch.StableAttr().Mode == mode {
		cn, _ := ch.Operations().(*node)
		var reuse bool
		switch {
		case cn == nil:
			reuse = mode != syscall.S_IFREG
		case mode == syscall.S_IFREG:
			reuse = cn.sameVersion(st) && !cn.isStale()
		case mode == syscall.S_IFLNK:
			// The kernel keeps a link's target with its inode: the
			// same inode only while nothing could have changed it.
			reuse = cn.isWatched()
		default:
			reuse = true
		}
		if reuse {
			if cn != nil {
				n.v.entryTimeouts(out, cn.trust(gen, u, st, false))
			}
			return ch, 0
		}
	}
	child := &node{v: n.v}
	if mode == syscall.S_IFREG {
		child.size, child.mtime = st.Size, st.Mtime
	}
	in := n.NewInode(ctx, child, fs.StableAttr{Mode: mode})
	n.v.entryTimeouts(out, child.trust(gen, u, st, false))
	return in, 0
}

// Getattr answers from the open copy when there is one (what fstat sees
// matches what read returns), from the master otherwise.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h := handleOf(f); h != nil {
		setAttr(&out.Attr, &h.st)
		out.SetTimeout(n.v.timeoutFor(n.isWatched()))
		return 0
	}
	gen := n.v.gen.Load()
	p, e := n.path()
	if e != 0 {
		return e
	}
	if ust, ok := n.v.upperStat(p); ok && ust.Mode&syscall.S_IFMT == n.Mode() && n.Mode() != syscall.S_IFDIR {
		attrFromStat(&out.Attr, ust) // copied up: the node's copy is the file now
		return 0
	}
	if g, ok := n.grantOf(caller(ctx)); ok && g.stat {
		// This user's answer, still true (grant.go). The kernel asks
		// again after every read of a directory or file (to update its
		// access time), not only when its cache expires.
		setAttr(&out.Attr, &g.st)
		out.SetTimeout(n.v.long)
		return 0
	}
	st, err := n.v.lstatErr(caller(ctx), p)
	if err != nil {
		if n.IsRoot() {
			// The mount point is a directory whoever asks, even a user
			// the master gives no session (root of the node, often).
			out.Mode = syscall.S_IFDIR | 0o555
			out.Nlink = 1
			return 0
		}
		return n.v.errno("lstat", caller(ctx), p, err)
	}
	if st.Mode&syscall.S_IFMT != n.Mode() || n.Mode() == syscall.S_IFREG && (!n.sameVersion(st) || n.isStale()) {
		return syscall.ESTALE // another file now: the kernel looks it up again
	}
	setAttr(&out.Attr, st)
	out.SetTimeout(n.v.timeoutFor(n.trust(gen, caller(ctx), st, false)))
	return 0
}

// Readlink returns the master's target unchanged: an absolute target means
// the node's path, so the view is meant to appear at the master's paths.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return nil, e
	}
	var target string
	err := n.v.sessions.do(u, func(c *sftp.Client) (err error) {
		target, err = c.ReadLink(p)
		return err
	})
	if err != nil {
		return nil, n.v.errno("readlink", u, p, err)
	}
	return []byte(target), 0
}

// Access answers access(2) and chdir. Writing is never allowed. For the
// rest the caller's stat must succeed on the master (so every directory on
// the way is searchable by them) and the mode bits must allow it to
// someone the caller could be: FUSE gives the caller's uid and gid but not
// their supplementary groups, so a group bit counts for anyone. That errs
// towards "yes", which is safe: open asks the master, which knows.
func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	if mask&2 != 0 { // W_OK
		return syscall.EROFS
	}
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return e
	}
	var st *sftp.FileStat
	if g, ok := n.grantOf(u); ok && g.stat {
		st = &g.st // this user's answer, still true (grant.go)
	} else {
		gen := n.v.gen.Load()
		if st, e = n.v.lstat(u, p); e == 0 {
			n.trust(gen, u, st, false)
		}
	}
	if e != 0 {
		if n.IsRoot() {
			// The root may be searched and listed whoever asks, as
			// Getattr shows it, even by a user the master gives no
			// session (root of the node setting up a process).
			return 0
		}
		return e
	}
	if u.uid == 0 {
		// Root may read and search anything, and execute what anyone may.
		if mask&1 != 0 && st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Mode&0o111 == 0 {
			return syscall.EACCES
		}
		return 0
	}
	var allowed uint32
	switch {
	case st.UID == u.uid:
		allowed = st.Mode >> 6 & 7
	default:
		allowed = st.Mode>>3&7 | st.Mode&7
	}
	if mask&7&^allowed != 0 {
		return syscall.EACCES
	}
	return 0
}
