package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/bproc/bproc/internal/master/elfclosure"
	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// pushList is what a diskless node needs to start the program: its
// closure (elfclosure), found, stat'ed and its regular files opened and
// summed with the caller's credentials, so that nothing reaches a node that
// the caller could not read here. The sums are the versions: a node that
// has a copy of a sum fetches nothing for it.
func pushList(hashes *contentcache.Hashes, cred asuser.Cred, start *wire.ProcStart) ([]wire.PushFile, error) {
	var out []wire.PushFile
	err := asuser.Do(cred, func() error {
		c, err := elfclosure.Resolve(start.Path, elfclosure.Options{Env: start.Env, Dir: start.Dir})
		if err != nil {
			return err
		}
		for _, f := range c.Files {
			pf := wire.PushFile{Path: f.Path, Target: f.Target}
			switch f.Kind {
			case elfclosure.Regular:
				pf.Kind = "file"
			case elfclosure.Dir:
				pf.Kind = "dir"
			case elfclosure.Symlink:
				pf.Kind = "link"
			}
			fi, err := os.Lstat(f.Path)
			if err != nil {
				return err
			}
			if pf.Kind == "file" {
				fi, pf.Sum, err = sumRegular(hashes, f.Path)
				if err != nil {
					return err
				}
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				pf.Mode = st.Mode & 0o7777
				pf.UID, pf.GID = st.Uid, st.Gid
			}
			if pf.Kind == "file" {
				pf.Size, pf.MTime = fi.Size(), fi.ModTime().UnixNano()
			}
			out = append(out, pf)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", start.Argv[0], err)
	}
	return out, nil
}

// nodePush is what a node must be sent before it starts the program of
// start: on a node without a view (push-only) the program's whole
// closure; on any other, the part of it in the node's own directories
// (wire.NodeOwn: its /tmp, say), which the node does not see of the
// master's. A program there that the caller does not have on the master
// is the node's own: nothing is pushed, and the node runs its own or says
// it has none.
//
// cache, if not nil, is the job's: its ranks share one list (pushCache).
func nodePush(hashes *contentcache.Hashes, cred asuser.Cred, start *wire.ProcStart, pushOnly, view bool, cache *pushCache) ([]wire.PushFile, error) {
	if start.Builtin != "" {
		return nil, nil
	}
	own := wire.NodeOwn(start.Path, view)
	if !pushOnly && !own {
		return nil, nil
	}
	if own {
		var missing bool
		asuser.Do(cred, func() error {
			_, err := os.Lstat(start.Path)
			missing = errors.Is(err, fs.ErrNotExist)
			return nil
		})
		if missing {
			return nil, nil
		}
	}
	files, err := cache.list(hashes, cred, start)
	if err != nil || pushOnly {
		return files, err
	}
	// A copy: the list may be the job's, which other ranks share.
	return slices.DeleteFunc(slices.Clone(files), func(f wire.PushFile) bool { return !wire.NodeOwn(f.Path, view) }), nil
}

// sumRegular opens the regular file p (as the caller) and returns its
// attributes and sum, both of the file opened.
func sumRegular(hashes *contentcache.Hashes, p string) (os.FileInfo, string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	sum, _, err := hashes.SumFile(f)
	if err != nil {
		return nil, "", err
	}
	return fi, sum.String(), nil
}

// pushCode is the shell's status for a program that cannot be pushed: 127
// when something is missing, 126 when it may not be read or run.
func pushCode(err error) int {
	if os.IsNotExist(err) {
		return 127
	}
	return 126
}
