package node

import (
	"fmt"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// pushOwn places f in one of the node's own directories (its /tmp, where
// the master's file is not seen) as the caller, with the caller's
// credentials on a thread of their own: these are directories users
// write to, so what is made there is the caller's to make, and the kernel
// decides whether they may (another user's directory refuses them). As
// everywhere in the push, nothing follows a symlink. A file's content
// comes through the push's cache, as the caller fetched it; it is copied
// to its path each time, then renamed over what was there (a program
// running from the old one keeps it).
func (s *Slave) pushOwn(root int, cred asuser.Cred, f wire.PushFile, dial func() (*sftp.Client, error)) error {
	if f.Kind != "file" {
		return asuser.Do(cred, func() error {
			if f.Kind == "dir" {
				return makeDir(root, f)
			}
			return makeLink(root, f)
		})
	}
	sum, err := contentcache.ParseSum(f.Sum)
	if err != nil {
		return err
	}
	c, err := s.pushed.open(pushCacheDir, s.cfg.CacheSize)
	if err != nil {
		return err
	}
	e, err := c.Acquire(f.Path, sum, f.Size, func(w *contentcache.Writer) error { return fetch(f, dial, w) })
	if err != nil {
		return err
	}
	defer c.Release(e)
	if e.Torn() {
		return fmt.Errorf("got other content than the master's sum (changed on the master while fetched?)")
	}
	// The copy is root's: opened here, read through the descriptor as
	// the caller.
	src, err := unix.Open(e.File(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	// Two processes of a job on this node push the same path at once:
	// one at a time, or each would remove the other's new file.
	s.pushed.mu.Lock()
	defer s.pushed.mu.Unlock()
	return asuser.Do(cred, func() error {
		dirfd, name, err := parentDir(root, f)
		if err != nil {
			return err
		}
		defer unix.Close(dirfd)
		tmp := name + ".bproc-new"
		unix.Unlinkat(dirfd, tmp, 0)
		if err := copyTo(src, dirfd, tmp, f); err != nil {
			unix.Unlinkat(dirfd, tmp, 0)
			return err
		}
		if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
			unix.Unlinkat(dirfd, tmp, 0)
			return err
		}
		return nil
	})
}
