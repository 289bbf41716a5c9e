package master

import (
	"fmt"
	"os"
	"path"
	"syscall"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// movePush is what a node must be sent before it rebuilds img, the
// process pid (stopped): the files it maps, and its executable, that the
// node does not see of the master's (those in the node's own
// directories, wire.NodeOwn; every one on a push-only node), with the
// directories on their paths. They are read as the caller, and each must
// be the very file the process maps (its device and inode, which the
// kernel shows root under /proc/PID/map_files): a program rebuilt since
// it started would give the copy other code than it runs.
func movePush(hashes *contentcache.Hashes, cred asuser.Cred, pid int, img *vmadump.Image, pushOnly, view bool) ([]wire.PushFile, error) {
	want := map[string]string{} // path -> its /proc link, for the identity
	var order []string
	add := func(p, link string) {
		if p == "" || p[0] != '/' || !pushOnly && !wire.NodeOwn(p, view) {
			return
		}
		if _, ok := want[p]; !ok {
			order = append(order, p)
		}
		want[p] = link
	}
	for _, m := range img.Maps {
		if !m.Anonymous() {
			add(m.Path, fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End))
		}
	}
	add(img.Exe, fmt.Sprintf("/proc/%d/exe", pid))
	if len(order) == 0 {
		return nil, nil
	}
	ids := map[string][2]uint64{}
	for p, link := range want {
		var st syscall.Stat_t
		if err := syscall.Stat(link, &st); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", errMoveFail, p, err)
		}
		ids[p] = [2]uint64{st.Dev, st.Ino}
	}
	var out []wire.PushFile
	dirs := map[string]bool{}
	err := asuser.Do(cred, func() error {
		for _, p := range order {
			for _, d := range parents(p) {
				if dirs[d] {
					continue
				}
				dirs[d] = true
				fi, err := os.Lstat(d)
				if err != nil {
					return err
				}
				if !fi.IsDir() {
					return fmt.Errorf("%s: not a directory", d)
				}
				out = append(out, attrs(wire.PushFile{Path: d, Kind: "dir"}, fi))
			}
			fi, sum, err := sumRegular(hashes, p)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			if [2]uint64{st.Dev, st.Ino} != ids[p] {
				return fmt.Errorf("%s %s; the node cannot be given what it runs", p, localapi.ErrReplaced.Text)
			}
			pf := attrs(wire.PushFile{Path: p, Kind: "file", Sum: sum}, fi)
			pf.Size, pf.MTime = fi.Size(), fi.ModTime().UnixNano()
			out = append(out, pf)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errMoveFail, err)
	}
	return out, nil
}

// parents are the directories p lies in, from the top, "/" left out.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// attrs gives f the mode and owner fi has.
func attrs(f wire.PushFile, fi os.FileInfo) wire.PushFile {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.Mode = st.Mode & 0o7777
		f.UID, f.GID = st.Uid, st.Gid
	}
	return f
}
