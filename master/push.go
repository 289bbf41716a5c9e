package master

import (
	"fmt"
	"os"
	"syscall"

	"github.com/bproc/bproc/asuser"
	"github.com/bproc/bproc/elfclosure"
	"github.com/bproc/bproc/wire"
)

// pushList is what a diskless node needs to start the program: its
// closure (elfclosure), found and stat'ed with the caller's credentials, so
// that nothing reaches a node that the caller could not read here.
func pushList(cred asuser.Cred, start *wire.ProcStart) ([]wire.PushFile, error) {
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

// pushCode is the shell's status for a program that cannot be pushed: 127
// when something is missing, 126 when it may not be read or run.
func pushCode(err error) int {
	if os.IsNotExist(err) {
		return 127
	}
	return 126
}
