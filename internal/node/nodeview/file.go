package nodeview

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// writeFlags are the open flags that would change the file.
const writeFlags = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_TRUNC | syscall.O_APPEND | syscall.O_CREAT

// Open opens the file on the master in the caller's session (the master's
// kernel checks the caller may read it), then serves the local copy of the
// version it found there, fetching it first if the cache has none.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	u := caller(ctx)
	p, e := n.path()
	if e != 0 {
		return nil, 0, e
	}
	if flags&writeFlags != 0 {
		if n.v.up == nil {
			return nil, 0, syscall.EROFS
		}
		if e := n.v.copyUp(u, p); e != 0 {
			return nil, 0, e
		}
	}
	if _, ok := n.v.upperStat(p); ok {
		// The node's own copy: written here, or copied up just now.
		rel, err := n.v.upperRel(p)
		if err != nil {
			return nil, 0, toErrno(err)
		}
		return n.v.openUpper(ctx, rel, flags, 0)
	}
	if h := n.openGranted(u); h != nil {
		return h, n.keepPages(), 0
	}
	var (
		ent *contentcache.Entry
		st  *sftp.FileStat
	)
	gen := n.v.gen.Load()
	err := n.v.sessions.do(u, func(c *sftp.Client) error {
		// The master answers a stat with the sum of the content only if
		// it could open the file as the caller (files.go, summed): a sum
		// is the caller's open on the master, and the copy of that
		// content is served only after it. A file whose content this
		// node has (the config's libraries, another user's open, another
		// path) then costs one round trip, not an open and a stat; the
		// master's file is opened only to fetch from it.
		fi, err := c.Stat(p)
		if err != nil {
			return err
		}
		st = fileStat(fi)
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG || !n.sameVersion(st) {
			// Not the version this inode stands for (see node). ESTALE
			// makes the kernel look the name up again, which finds the
			// new version, and retry the open on it.
			return syscall.ESTALE
		}
		sum, _ := statSum(st)
		if !n.sameContent(sum) {
			// Same size and mtime, other content (rewritten with its
			// times put back): a new inode, as for a new version.
			return syscall.ESTALE
		}
		var f *sftp.File
		defer func() {
			if f != nil {
				// Nobody waits for the close: it only frees the
				// master's handle.
				go f.Close()
			}
		}()
		openMaster := func() (err error) {
			if f == nil {
				f, err = c.Open(p)
			}
			return err
		}
		if sum.IsZero() {
			// No sum: the caller may not read the file (the open says
			// so), or the master gives none; then a copy of our own,
			// served to this open alone (contentcache: torn).
			if err := openMaster(); err != nil {
				return err
			}
		}
		size := int64(st.Size)
		fromMaster := func(w io.Writer) error {
			if err := openMaster(); err != nil {
				return err
			}
			return fetch(f, p, w)
		}
		ent, err = n.v.cache.Acquire(p, sum, size, func(w *contentcache.Writer) error {
			if sum.IsZero() {
				return fromMaster(w) // no sum, no peers
			}
			return n.v.fetchWithPeers(u.uid, wire.Version{Path: p, Size: size, Sum: sum.String()}, w, fromMaster)
		})
		return err
	})
	if err != nil {
		return nil, 0, n.v.errno("open", u, p, err)
	}
	local, err := n.v.cache.Open(ent)
	if err != nil {
		n.v.cache.Release(ent)
		return nil, 0, n.v.errno("open", u, p, err)
	}
	h := &handle{v: n.v, n: n, e: ent, f: local, fd: int(local.Fd()), st: *st}
	h.st.Size = uint64(ent.Size()) // differs from the master's only if torn
	if ent.Torn() {
		n.openedTorn(h)
		return n.v.fileHandle(h, n.size), fuse.FOPEN_NOFLUSH, 0
	}
	n.grantOpen(gen, u, st)
	return n.v.fileHandle(h, n.size), n.keepPages(), 0
}

// keepPages is the open flags of a copy of n's content: the kernel may
// keep what it cached from earlier opens of the inode, which read the
// same content, unless one read a torn copy (the file changed on the
// master while it was fetched): then not while that open lasts, nor at
// the first open after it, which drops those pages. A close has nothing
// to flush: the kernel need not ask (FOPEN_NOFLUSH, one round trip less
// for every file a program closes).
func (n *node) keepPages() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tornOpen > 0 || n.tornPages {
		n.tornPages = n.tornOpen > 0
		return fuse.FOPEN_NOFLUSH
	}
	return fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH
}

// openedTorn records that h, open on n, reads a torn copy: the pages it
// brings into the kernel's cache are not n's content.
func (n *node) openedTorn(h *handle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tornOpen++
	n.tornPages = true
	h.torn = true
}

// openGranted opens n's copy without asking the master, if u's session
// opened this version before and nothing changed since (grant.go); nil
// otherwise.
func (n *node) openGranted(u user) fs.FileHandle {
	g, ok := n.grantOf(u)
	if !ok || !g.opened || n.isStale() {
		return nil
	}
	n.mu.Lock()
	sum := n.sum
	n.mu.Unlock()
	if sum.IsZero() {
		return nil
	}
	ent := n.v.cache.Hold(sum)
	if ent == nil {
		return nil // evicted: fetched again, through the master
	}
	local, err := n.v.cache.Open(ent) // fails while a copy is arriving
	if err != nil || ent.Torn() {
		if local != nil {
			local.Close()
		}
		n.v.cache.Release(ent)
		return nil
	}
	h := &handle{v: n.v, n: n, e: ent, f: local, fd: int(local.Fd()), st: g.st}
	h.st.Size = uint64(ent.Size())
	return n.v.fileHandle(h, n.size)
}

// cachedMax is the size up to which a file is read through the node's
// page cache rather than passed through to its copy. A passed-through
// read makes the kernel forget the file's access time, so the next
// fstat of it (Python's of every module it imports) is a round trip to
// this process, and each open costs two more calls to the kernel to
// hand it the copy and take it back. A file read through the page cache
// is read from this process once per inode (one version: FOPEN_KEEP_CACHE)
// and then never asked about while it is watched. The price is a second
// copy in memory of the files a node reads, which the kernel may
// reclaim. 4 MiB takes in the C library (2 MB, fstat'ed by the loader in
// every dynamic program) and most shared libraries; larger files (big
// programs, data) keep passthrough.
const cachedMax = 4 << 20

// fileHandle is h as the kernel is given it: for passthrough or not. An
// inode's handles are all one or all the other (the kernel refuses to
// mix the two on an inode): the choice is by the size of the version
// the inode stands for.
func (v *View) fileHandle(h *handle, size uint64) fs.FileHandle {
	if v.passthrough && size > cachedMax {
		return &ptHandle{h}
	}
	return h
}

// statSum is the content's sum the master gave with st (false: none).
func statSum(st *sftp.FileStat) (contentcache.Sum, bool) {
	for _, x := range st.Extended {
		if x.ExtType == contentcache.StatExtension {
			if sum, err := contentcache.ParseSum(x.ExtData); err == nil {
				return sum, true
			}
		}
	}
	return contentcache.Sum{}, false
}

// fetch copies the open master file f to w. The cache checks that what
// arrived has the sum asked for: a file changed during the copy is caught
// there.
func fetch(f *sftp.File, p string, w io.Writer) error {
	// sftp.File.WriteTo keeps many reads in flight: a large file arrives at
	// the link's speed, not one round trip per 32 kB.
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("nodeview: fetch %s: %w", p, err)
	}
	return nil
}

// handle is an open file of the view: the local copy of one version.
type handle struct {
	v    *View
	n    *node
	torn bool // a torn copy (node.openedTorn)
	e    *contentcache.Entry
	f    *os.File
	fd   int
	st   sftp.FileStat // the master's attributes of this version
}

// ptHandle is a handle the kernel may read through FUSE passthrough: from
// the copy itself, without asking this process, where the kernel allows it
// (Linux 6.9, CAP_SYS_ADMIN); go-fuse falls back to Read where not. The
// kernel has one backing file per inode, which is right here because an
// inode is one version.
type ptHandle struct{ *handle }

var (
	_ fs.FileReader          = (*handle)(nil)
	_ fs.FileReleaser        = (*handle)(nil)
	_ fs.FilePassthroughFder = (*ptHandle)(nil)
)

// handleOf is the handle behind a FUSE file handle of the view.
func handleOf(f fs.FileHandle) *handle {
	switch h := f.(type) {
	case *handle:
		return h
	case *ptHandle:
		return h.handle
	}
	return nil
}

func (h *ptHandle) PassthroughFd() (int, bool) { return h.fd, true }

// Read hands the kernel the copy's file descriptor: go-fuse splices from it
// into the reply without copying through this process.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(uintptr(h.fd), off, len(dest)), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.torn {
		h.n.mu.Lock()
		h.n.tornOpen--
		h.n.mu.Unlock()
	}
	h.f.Close()
	h.v.cache.Release(h.e)
	return 0
}
