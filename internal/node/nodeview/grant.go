package nodeview

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/wire"
)

// What a watched entry lets the view skip. An answer the master watches
// (wire.StatWatched) stays true until the master says the entry changed
// (Invalidate), so:
//
//   - the kernel may keep it for View.long instead of View.short;
//   - the view keeps, per user, the lstat that user's session was
//     answered (Access needs no round trip) and whether that session
//     opened this version of the file on the master (Open needs none: the
//     master's kernel checked that user once, and nothing about the file
//     or the directories above it changed since, or the master would have
//     said). A grant is its session's: when the session ends (idle, or the
//     user has no process on the node any more) or breaks, its grants go
//     with it.

// grant is what one user's session was answered about a watched entry.
type grant struct {
	sess   *session
	st     sftp.FileStat
	stat   bool // st is the session's answer about this entry
	opened bool // the session opened this version of the file
	listed bool // the session listed this directory (node.list)
}

// watchedStat says whether the master watches the answer st.
func watchedStat(st *sftp.FileStat) bool {
	for _, x := range st.Extended {
		if x.ExtType == wire.StatWatched {
			return true
		}
	}
	return false
}

// trust records u's answer st about n, asked when the view's invalidation
// count was gen, and says whether the kernel may keep it long: only when
// the master watches it and nothing was invalidated since it was asked
// (the invalidation might be of this very entry, and have reached the
// kernel before the answer did).
func (n *node) trust(gen uint64, u user, st *sftp.FileStat, opened bool) bool {
	if !watchedStat(st) || n.v.long == 0 || n.Mode() == syscall.S_IFREG && !n.sameVersion(st) {
		n.forget()
		return false
	}
	sess := n.v.sessions.current(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.v.gen.Load() != gen || sess == nil {
		n.watched, n.grants = false, nil
		return false
	}
	n.watched = true
	if n.grants == nil {
		n.grants = make(map[user]grant)
	}
	g := n.grants[u]
	if g.sess != sess {
		g = grant{sess: sess}
	}
	g.st, g.stat = *st, true
	g.opened = g.opened || opened
	n.grants[u] = g
	return true
}

// grantOf is u's grant on n, if n is still watched and u's session the
// one that was answered.
func (n *node) grantOf(u user) (grant, bool) {
	sess := n.v.sessions.current(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	g, ok := n.grants[u]
	if !ok || !n.watched || sess == nil || g.sess != sess {
		return grant{}, false
	}
	return g, true
}

// isWatched says whether n's last answer is watched still.
func (n *node) isWatched() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watched
}

// grantOpen records that u's session opened n's version, asked when the
// invalidation count was gen: while n stays watched, u opens it again
// without asking.
func (n *node) grantOpen(gen uint64, u user, st *sftp.FileStat) {
	sess := n.v.sessions.current(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.watched || n.v.gen.Load() != gen || sess == nil || n.stale {
		return
	}
	if n.grants == nil {
		n.grants = make(map[user]grant)
	}
	n.grants[u] = grant{sess: sess, st: *st, stat: true, opened: true}
}

// grantList records that u's session listed directory n, as list, asked
// when the invalidation count was gen.
func (n *node) grantList(gen uint64, u user, list []fuse.DirEntry) {
	sess := n.v.sessions.current(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.watched || n.v.gen.Load() != gen || sess == nil {
		return
	}
	if n.grants == nil {
		n.grants = make(map[user]grant)
	}
	g := n.grants[u]
	if g.sess != sess {
		g = grant{sess: sess}
	}
	g.listed = true
	n.grants[u] = g
	n.list = list
}

// listOf is the listing of directory n that u's session was given, if
// it is still true.
func (n *node) listOf(u user) ([]fuse.DirEntry, bool) {
	g, ok := n.grantOf(u)
	if !ok || !g.listed {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.list, n.list != nil
}

// forget drops what n's answers let the view skip.
func (n *node) forget() {
	n.mu.Lock()
	n.watched, n.grants, n.list = false, nil, nil
	n.mu.Unlock()
}

// forgetList drops directory n's listing: an entry in it changed.
func (n *node) forgetList() {
	n.mu.Lock()
	n.list = nil
	for u, g := range n.grants {
		g.listed = false
		n.grants[u] = g
	}
	n.mu.Unlock()
}

// forgetTree forgets in and every inode below it that the view knows.
func forgetTree(in *fs.Inode) {
	if n, ok := in.Operations().(*node); ok {
		n.forget()
	}
	for _, ch := range in.Children() {
		forgetTree(ch)
	}
}

// timeouts sets the kernel's timeouts of an entry: long when trusted.
func (v *View) entryTimeouts(out *fuse.EntryOut, trusted bool) {
	t := v.timeoutFor(trusted)
	out.SetEntryTimeout(t)
	out.SetAttrTimeout(t)
}

func (v *View) timeoutFor(trusted bool) time.Duration {
	if trusted {
		return v.long
	}
	return v.short
}
