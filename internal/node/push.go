package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/beneath"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// pushCacheDir holds the push's copies (in sha256/, by content): in the
// root's own file system, so that a copy is placed at its path by a hard
// link, not a second copy. The root of a diskless node is its memory.
const pushCacheDir = "/.bproc-cache"

// pushed is what this node has fetched and placed, so that a second run of
// a program costs nothing but the master's sums, a file whose content
// changed is fetched again, two paths with one content are one copy, and
// two processes that need one content at once fetch it once (the cache,
// package contentcache, which the view uses too).
type pushed struct {
	once  sync.Once
	cache *contentcache.Cache
	err   error

	mu     sync.Mutex // guards placed and seals; held while placing
	placed map[string]placement
	// seals is the ctime each copy had after this node last linked or
	// changed it: a copy placed by a hard link can be written through its
	// path, and one that was is not that content any more.
	seals map[contentcache.Sum]int64
}

// placement is a file put at its path: which content, and the inode and
// ctime it had then (any write or chmod since changes ctime).
type placement struct {
	sum   contentcache.Sum
	ino   uint64
	ctime int64
	held  *contentcache.Entry // the copy, when the path is a link to it
}

func (p *pushed) open(dir string, limit int64) (*contentcache.Cache, error) {
	p.once.Do(func() {
		p.cache, p.err = contentcache.Open(dir, limit)
	})
	return p.cache, p.err
}

// push places every entry of files at its path, as the master has it:
// directories and links made, regular files fetched when this node lacks
// their content. Files are fetched as uid, through the master's file
// service, which reads them with the caller's credentials.
//
// Placing is done as root in a root that users write to (their own
// directories under /tmp, say), so nothing here follows a symlink: every
// path is resolved beneath the root's descriptor with package beneath,
// and modes, owners and links are set on descriptors. A symlink where the
// master has a directory refuses the push (the master's paths have none:
// package elfclosure lists the links they pass as entries of their own).
// Setuid and setgid bits of pushed files are dropped unless keepSetID
// (the config's pushsetid).
//
// An entry in the node's own directories (wire.NodeOwn: its /tmp, say)
// is placed as the caller instead (pushOwn), beneath the root the process
// runs in (the view, on a node that has one).
func (s *Slave) push(cred asuser.Cred, files []wire.PushFile, keepSetID bool) error {
	uid := cred.UID
	rootDir := "/"
	if s.view != nil {
		rootDir = s.view.root()
	}
	root, err := unix.Open(rootDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("push: open the node's root: %w", err)
	}
	defer unix.Close(root)
	var client *sftp.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	dial := func() (*sftp.Client, error) {
		if client == nil {
			c, err := s.Files(uid)
			if err != nil {
				return nil, err
			}
			client = c
		}
		return client, nil
	}
	for _, f := range files {
		if !keepSetID && f.Kind == "file" {
			f.Mode &^= unix.S_ISUID | unix.S_ISGID
		}
		var err error
		switch {
		case wire.NodeOwn(f.Path, s.view != nil):
			err = s.pushOwn(root, cred, f, dial)
		case f.Kind == "dir":
			err = makeDir(root, f)
		case f.Kind == "link":
			err = makeLink(root, f)
		case f.Kind == "file":
			err = s.pushFile(root, f, dial)
		}
		if err != nil {
			return fmt.Errorf("push %s: %w", f.Path, err)
		}
	}
	return nil
}

// pushRel is f's path relative to the node's root, and the relative path
// of its directory and its name there.
func pushRel(f wire.PushFile) (rel, dir, name string, err error) {
	p := path.Clean(f.Path)
	if !path.IsAbs(p) || p == "/" || p != f.Path {
		return "", "", "", fmt.Errorf("not a clean absolute path")
	}
	d, name := path.Split(p)
	return beneath.Rel(p), beneath.Rel(path.Clean(d)), name, nil
}

// makeDir makes the directory f (with every missing one above it) and
// gives a new one f's owner and mode; one that exists is left as it is.
func makeDir(root int, f wire.PushFile) error {
	rel, _, _, err := pushRel(f)
	if err != nil {
		return err
	}
	fd, err := beneath.MkdirAll(root, rel, func(fd int, p string) error {
		if p != f.Path {
			return unix.Fchmod(fd, 0o755)
		}
		unix.Fchown(fd, int(f.UID), int(f.GID))
		// Raw bits: setgid and sticky included, as the master has them
		// (setgid on a directory only hands its group down).
		return unix.Fchmod(fd, f.Mode&0o7777)
	})
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// parentDir opens (making it if need be) the directory f is placed in.
func parentDir(root int, f wire.PushFile) (dirfd int, name string, err error) {
	_, dir, name, err := pushRel(f)
	if err != nil {
		return -1, "", err
	}
	dirfd, err = beneath.MkdirAll(root, dir, nil)
	return dirfd, name, err
}

// readlinkAt is the target of the link name in dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func makeLink(root int, f wire.PushFile) error {
	dirfd, name, err := parentDir(root, f)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	if t, err := readlinkAt(dirfd, name); err == nil && t == f.Target {
		return nil
	}
	// A name of this call's own: the ranks of a launch push the same
	// links at once, and a shared one was removed or renamed away by
	// another between symlink and rename. The rename is atomic, so the
	// last one in leaves the link, and every rank finds it made.
	tmp := fmt.Sprintf("%s.bproc-new-%d", name, linkSeq.Add(1))
	unix.Unlinkat(dirfd, tmp, 0)
	if err := unix.Symlinkat(f.Target, dirfd, tmp); err != nil {
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	return nil
}

// linkSeq numbers makeLink's temporary names.
var linkSeq atomic.Uint64

// errTampered: a copy was changed on the node since it was placed.
var errTampered = errors.New("the node's copy was changed")

// pushFile places one regular file unless its path has that content now.
func (s *Slave) pushFile(root int, f wire.PushFile, dial func() (*sftp.Client, error)) error {
	if _, _, _, err := pushRel(f); err != nil {
		return err
	}
	sum, err := contentcache.ParseSum(f.Sum)
	if err != nil {
		return err
	}
	p := &s.pushed
	c, err := p.open(pushCacheDir, s.cfg.CacheSize)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.placed[f.Path].sum == sum && p.stillPlaced(root, f.Path) {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	for attempt := 0; ; attempt++ {
		e, err := c.Acquire(f.Path, sum, f.Size, func(w *contentcache.Writer) error { return fetch(f, dial, w) })
		if err != nil {
			return err
		}
		if e.Torn() {
			c.Release(e)
			return fmt.Errorf("got other content than the master's sum (changed on the master while fetched?)")
		}
		p.mu.Lock()
		err = p.place(root, c, e, f)
		p.mu.Unlock()
		if errors.Is(err, errTampered) && attempt == 0 {
			s.log.Warn("a pushed copy was changed on the node; fetching it again", "path", f.Path)
			continue
		}
		return err
	}
}

// stillPlaced reports whether path is the file placed there, unchanged,
// reached through no symlink. Under p.mu.
func (p *pushed) stillPlaced(root int, path string) bool {
	pl, ok := p.placed[path]
	if !ok {
		return false
	}
	st, err := beneath.Lstat(root, beneath.Rel(path))
	return err == nil && st.Ino == pl.ino && st.Ctim.Nano() == pl.ctime
}

// place puts the copy e, which the caller holds and place takes over, at
// f.Path: a hard link to it when the copy has f's owner and mode (or is
// placed nowhere yet, and is given them), a copy of it otherwise. Under
// p.mu.
func (p *pushed) place(root int, c *contentcache.Cache, e *contentcache.Entry, f wire.PushFile) error {
	if p.placed == nil {
		p.placed, p.seals = map[string]placement{}, map[contentcache.Sum]int64{}
	}
	if p.placed[f.Path].sum == e.Sum() && p.stillPlaced(root, f.Path) {
		c.Release(e) // placed by another push meanwhile
		return nil
	}
	// The copy, by descriptor: its attributes are set and it is linked
	// through this, not through its path.
	src, err := unix.Open(e.File(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		c.Release(e)
		return err
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		c.Release(e)
		return err
	}
	if seal, ok := p.seals[e.Sum()]; ok && st.Nlink > 1 && st.Ctim.Nano() != seal || st.Size != e.Size() {
		c.Forget(e)
		c.Release(e)
		delete(p.seals, e.Sum())
		return errTampered
	}
	dirfd, name, err := parentDir(root, f)
	if err != nil {
		c.Release(e)
		return err
	}
	defer unix.Close(dirfd)
	mode := f.Mode & 0o7777
	link := st.Nlink == 1 || st.Mode&0o7777 == mode && st.Uid == f.UID && st.Gid == f.GID
	tmp := name + ".bproc-new"
	unix.Unlinkat(dirfd, tmp, 0)
	if link {
		if st.Nlink == 1 {
			err = setAttrs(src, f)
		}
		if err == nil {
			// AT_EMPTY_PATH links the open file itself (root may).
			err = unix.Linkat(src, "", dirfd, tmp, unix.AT_EMPTY_PATH)
		}
		if err != nil {
			link = false // another file system: a copy after all
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}
	if !link {
		err = copyTo(src, dirfd, tmp, f)
	}
	if err == nil {
		err = unix.Renameat(dirfd, tmp, dirfd, name)
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		c.Release(e)
		return err
	}
	var pst unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &pst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		c.Release(e)
		return err
	}
	if old := p.placed[f.Path]; old.held != nil {
		// The rename unlinked the path from the old copy, which moved its
		// ctime: the paths still linked to it are unchanged.
		var ost syscall.Stat_t
		if syscall.Lstat(old.held.File(), &ost) == nil && ost.Ino == old.ino {
			p.reseal(old.sum, ost.Ino, ost.Ctim.Nano())
		}
		c.Release(old.held)
	}
	pl := placement{sum: e.Sum(), ino: pst.Ino, ctime: pst.Ctim.Nano()}
	if link {
		// The copy is in use while a path is a link to it.
		pl.held = e
		p.reseal(e.Sum(), pst.Ino, pst.Ctim.Nano())
	} else {
		c.Release(e)
	}
	p.placed[f.Path] = pl
	return nil
}

// reseal records ctime as the one the copy of sum, inode ino, has after
// this node's own change to it, for the copy and every path linked to it.
// Under p.mu.
func (p *pushed) reseal(sum contentcache.Sum, ino uint64, ctime int64) {
	p.seals[sum] = ctime
	for path, other := range p.placed {
		if other.ino == ino {
			other.ctime = ctime
			p.placed[path] = other
		}
	}
}

// setAttrs gives the open file fd the owner, mode and mtime f has on the
// master (its setuid and setgid bits already dropped unless kept).
func setAttrs(fd int, f wire.PushFile) error {
	unix.Fchown(fd, int(f.UID), int(f.GID))
	// After the chown, which clears setuid and setgid.
	if err := unix.Fchmod(fd, f.Mode&0o7777); err != nil {
		return err
	}
	mt := unix.NsecToTimespec(f.MTime)
	return beneath.Futimens(fd, [2]unix.Timespec{mt, mt})
}

// copyTo copies the cached copy src to a new file name in dirfd, with f's
// attributes.
func copyTo(src, dirfd int, name string, f wire.PushFile) error {
	out, err := beneath.Open(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	o := os.NewFile(uintptr(out), name)
	d, err := unix.FcntlInt(uintptr(src), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		o.Close()
		return fmt.Errorf("dup: %w", err)
	}
	// A copy of the descriptor, which the os.File owns and closes.
	in := os.NewFile(uintptr(d), "copy")
	defer in.Close()
	_, err = io.Copy(o, in)
	if err == nil {
		err = setAttrs(out, f)
	}
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	return err
}

// fetch copies the master's file to w, through the master's file service
// as the caller; the cache checks its sum.
func fetch(f wire.PushFile, dial func() (*sftp.Client, error), w io.Writer) error {
	c, err := dial()
	if err != nil {
		return err
	}
	src, err := c.Open(f.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}
