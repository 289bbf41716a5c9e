package nodeview

import (
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/bproc/bproc/internal/shared/wire"
)

// invalAgain: Invalidate drops the entries once more after this long. An
// answer given just before an invalidation (trust saw no invalidation
// yet) may still be on its way into the kernel when the invalidation
// reaches it, and land after it.
const invalAgain = 50 * time.Millisecond

// Invalidate makes the node's kernel and the view forget what they were
// told about the master paths of msg: for msg.Paths the entries, their
// attributes, a link's target, and everything below a directory; for
// msg.Attrs the attributes, and for a directory what the view kept below
// it (its entry stays: processes may have it as their working directory);
// msg.All is every path. The master sends these (wire.ReqInval) when an
// entry it served changed; the node makes up an All when its files
// connection was lost (changes may have been missed). It returns once the
// kernel dropped them.
func (v *View) Invalidate(msg wire.Inval) {
	v.invalidate(msg)
	time.AfterFunc(invalAgain, func() { v.invalidate(msg) })
}

func (v *View) invalidate(msg wire.Inval) {
	v.gen.Add(1) // answers asked before this are not trusted long
	v.invalMu.Lock()
	defer v.invalMu.Unlock()
	if v.rootIn == nil {
		return
	}
	if msg.All {
		v.invalPath(v.root)
		return
	}
	for _, p := range msg.Paths {
		v.invalPath(p)
	}
	for _, p := range msg.Attrs {
		v.invalAttrs(p)
	}
}

// invalAttrs drops the attributes of master path p: a directory's entry
// stays, what the view kept below it goes (a mode taken away must end
// the grants there); anything else is dropped as a whole.
func (v *View) invalAttrs(p string) {
	in := v.inodeAt(p)
	if in == nil {
		return
	}
	if in.StableAttr().Mode != syscall.S_IFDIR {
		v.invalPath(p)
		return
	}
	forgetTree(in)
	in.NotifyContent(-1, 0)
}

// inodeAt is the inode the view has for master path p, or nil.
func (v *View) inodeAt(p string) *fs.Inode {
	rel, ok := v.relPath(p)
	if !ok {
		return nil
	}
	in := v.rootIn
	if rel != "" {
		for _, c := range strings.Split(rel, "/") {
			if in = in.GetChild(c); in == nil {
				return nil
			}
		}
	}
	return in
}

// invalPath drops master path p. The kernel's way to drop an entry with
// what is below it (notify_inval_entry) would also unmount what the node
// mounted there (its /proc, /tmp): a mount point is never dropped, and
// the directories above one are dropped name by name instead.
func (v *View) invalPath(p string) {
	rel, ok := v.relPath(p)
	if !ok || v.mountPoints[p] {
		return
	}
	parent, in := (*fs.Inode)(nil), v.rootIn
	name := ""
	if rel != "" {
		for _, c := range strings.Split(rel, "/") {
			if in == nil {
				return // the kernel holds nothing below
			}
			parent, name, in = in, c, in.GetChild(c)
		}
	}
	if v.mountAncestors[p] {
		if in == nil {
			return
		}
		if n, ok := in.Operations().(*node); ok {
			n.forget()
		}
		in.NotifyContent(-1, 0) // its attributes
		for childName := range in.Children() {
			v.invalPath(joinMaster(p, childName))
		}
		return
	}
	if in != nil {
		forgetTree(in)
		if n, ok := in.Operations().(*node); ok && in.StableAttr().Mode == syscall.S_IFREG {
			n.mu.Lock()
			n.stale = true // the next lookup makes a new inode
			n.mu.Unlock()
		}
		switch in.StableAttr().Mode {
		case syscall.S_IFLNK:
			in.NotifyContent(0, 0) // the target the kernel keeps
		default:
			// Its attributes, for those that hold it open or as their
			// working directory; a file's pages stay: an inode is one
			// version of a file.
			in.NotifyContent(-1, 0)
		}
	}
	if parent != nil {
		if pn, ok := parent.Operations().(*node); ok {
			pn.forgetList()
		}
		parent.NotifyEntry(name) // also a name the kernel keeps as missing
	}
}

// relPath is master path p relative to the view's root ("" for the
// root), false if p is not under it.
func (v *View) relPath(p string) (string, bool) {
	if p == v.root {
		return "", true
	}
	prefix := v.root
	if prefix != "/" {
		prefix += "/"
	}
	rel, ok := strings.CutPrefix(p, prefix)
	return rel, ok && rel != ""
}

// joinMaster is child name of master directory p.
func joinMaster(p, name string) string {
	if p == "/" {
		return "/" + name
	}
	return p + "/" + name
}
