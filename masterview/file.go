package masterview

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"
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
		if n.v.upper == "" {
			return nil, 0, syscall.EROFS
		}
		if e := n.v.copyUp(u, p); e != 0 {
			return nil, 0, e
		}
	}
	if _, ok := n.v.upperStat(p); ok {
		// The node's own copy: written here, or copied up just now.
		fd, err := syscall.Open(n.v.upperOf(p), int(flags)&^syscall.O_CREAT, 0)
		if err != nil {
			return nil, 0, fs.ToErrno(err)
		}
		return fs.NewLoopbackFile(fd), 0, 0
	}
	var (
		ent *entry
		st  *sftp.FileStat
	)
	err := n.v.sessions.do(u, func(c *sftp.Client) error {
		f, err := c.Open(p)
		if err != nil {
			return err
		}
		// Nobody waits for the close: it only frees the master's handle.
		defer func() { go f.Close() }()
		fi, err := f.Stat()
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
		k := keyOf(p, st)
		ent, err = n.v.cache.acquire(k, func(w io.Writer) (key, error) {
			return n.v.fetchWithPeers(u.uid, k, w, func(w io.Writer) (key, error) { return fetch(f, p, w) })
		})
		return err
	})
	if err != nil {
		return nil, 0, n.v.errno("open", u, p, err)
	}
	local, err := n.v.cache.open(ent)
	if err != nil {
		n.v.cache.release(ent)
		return nil, 0, n.v.errno("open", u, p, err)
	}
	h := &handle{v: n.v, e: ent, f: local, fd: int(local.Fd()), st: *st}
	h.st.Size = uint64(ent.size) // differs from the master's only if torn
	// The kernel may keep what it cached from earlier opens of this inode:
	// they read the same version, unless the copy is torn.
	var keep uint32
	if !ent.torn {
		keep = fuse.FOPEN_KEEP_CACHE
	}
	if n.v.passthrough {
		return &ptHandle{h}, keep, 0
	}
	return h, keep, 0
}

func keyOf(p string, st *sftp.FileStat) key {
	return key{path: p, size: int64(st.Size), mtime: int64(st.Mtime)}
}

// fetch copies the open master file f to w and stats it again.
func fetch(f *sftp.File, p string, w io.Writer) (key, error) {
	// sftp.File.WriteTo keeps many reads in flight: a large file arrives at
	// the link's speed, not one round trip per 32 kB.
	if _, err := io.Copy(w, f); err != nil {
		return key{}, fmt.Errorf("masterview: fetch %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return key{}, fmt.Errorf("masterview: fetch %s: stat: %w", p, err)
	}
	return keyOf(p, fileStat(fi)), nil
}

// handle is an open file of the view: the local copy of one version.
type handle struct {
	v  *View
	e  *entry
	f  *os.File
	fd int
	st sftp.FileStat // the master's attributes of this version
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
	h.f.Close()
	h.v.cache.release(h.e)
	return 0
}
