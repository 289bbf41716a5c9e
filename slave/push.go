package slave

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"

	"github.com/bproc/bproc/contentcache"
	"github.com/bproc/bproc/wire"
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
func (s *Slave) push(uid uint32, files []wire.PushFile) error {
	var client *sftp.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	for _, f := range files {
		var err error
		switch f.Kind {
		case "dir":
			err = makeDir(f)
		case "link":
			err = makeLink(f)
		case "file":
			err = s.pushFile(f, func() (*sftp.Client, error) {
				if client == nil {
					c, err := s.Files(uid)
					if err != nil {
						return nil, err
					}
					client = c
				}
				return client, nil
			})
		}
		if err != nil {
			return fmt.Errorf("push %s: %w", f.Path, err)
		}
	}
	return nil
}

func makeDir(f wire.PushFile) error {
	fi, err := os.Lstat(f.Path)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(f.Path, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
		return err
	}
	os.Lchown(f.Path, int(f.UID), int(f.GID))
	// Raw bits: setuid, setgid and sticky included, as the master has them.
	return syscall.Chmod(f.Path, f.Mode&0o7777)
}

func makeLink(f wire.PushFile) error {
	if t, err := os.Readlink(f.Path); err == nil && t == f.Target {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	tmp := f.Path + ".bproc-new"
	os.Remove(tmp)
	if err := os.Symlink(f.Target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, f.Path)
}

// errTampered: a copy was changed on the node since it was placed.
var errTampered = errors.New("the node's copy was changed")

// pushFile places one regular file unless its path has that content now.
func (s *Slave) pushFile(f wire.PushFile, dial func() (*sftp.Client, error)) error {
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
	if p.placed[f.Path].sum == sum && p.stillPlaced(f.Path) {
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
		err = p.place(c, e, f)
		p.mu.Unlock()
		if errors.Is(err, errTampered) && attempt == 0 {
			s.log.Warn("a pushed copy was changed on the node; fetching it again", "path", f.Path)
			continue
		}
		return err
	}
}

// stillPlaced reports whether path is the file placed there, unchanged.
// Under p.mu.
func (p *pushed) stillPlaced(path string) bool {
	pl, ok := p.placed[path]
	if !ok {
		return false
	}
	var st syscall.Stat_t
	return syscall.Lstat(path, &st) == nil && st.Ino == pl.ino && st.Ctim.Nano() == pl.ctime
}

// place puts the copy e, which the caller holds and place takes over, at
// f.Path: a hard link to it when the copy has f's owner and mode (or is
// placed nowhere yet, and is given them), a copy of it otherwise. Under
// p.mu.
func (p *pushed) place(c *contentcache.Cache, e *contentcache.Entry, f wire.PushFile) error {
	if p.placed == nil {
		p.placed, p.seals = map[string]placement{}, map[contentcache.Sum]int64{}
	}
	if p.placed[f.Path].sum == e.Sum() && p.stillPlaced(f.Path) {
		c.Release(e) // placed by another push meanwhile
		return nil
	}
	src := e.File()
	var st syscall.Stat_t
	if err := syscall.Lstat(src, &st); err != nil {
		c.Release(e)
		return err
	}
	if seal, ok := p.seals[e.Sum()]; ok && st.Nlink > 1 && st.Ctim.Nano() != seal || st.Size != e.Size() {
		c.Forget(e)
		c.Release(e)
		delete(p.seals, e.Sum())
		return errTampered
	}
	mode := f.Mode & 0o7777
	link := st.Nlink == 1 || st.Mode&0o7777 == mode && st.Uid == f.UID && st.Gid == f.GID
	tmp := f.Path + ".bproc-new"
	os.Remove(tmp)
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		c.Release(e)
		return err
	}
	var err error
	if link {
		if st.Nlink == 1 {
			err = setAttrs(src, f)
		}
		if err == nil {
			err = os.Link(src, tmp)
		}
		if err != nil {
			link = false // another file system: a copy after all
			os.Remove(tmp)
		}
	}
	if !link {
		err = copyTo(src, tmp, f)
	}
	if err == nil {
		err = os.Rename(tmp, f.Path)
	}
	if err != nil {
		os.Remove(tmp)
		c.Release(e)
		return err
	}
	var pst syscall.Stat_t
	if err := syscall.Lstat(f.Path, &pst); err != nil {
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

// setAttrs gives file the owner, mode and mtime f has on the master.
func setAttrs(file string, f wire.PushFile) error {
	os.Chown(file, int(f.UID), int(f.GID))
	// Raw bits: setuid, setgid and sticky included, as the master has them.
	if err := syscall.Chmod(file, f.Mode&0o7777); err != nil {
		return err
	}
	mt := time.Unix(0, f.MTime)
	return os.Chtimes(file, mt, mt)
}

// copyTo copies the cached copy src to dst, with f's attributes.
func copyTo(src, dst string, f wire.PushFile) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = setAttrs(dst, f)
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
