package wire

import "strings"

// ViewOwnDirs are the directories that a node with a view of the
// master's files has of its own: in the root its processes run in, these
// are the node's (and a fresh /run), never the master's. The master needs
// them to know what a node cannot see, such as node_up.d scripts kept
// under /run.
var ViewOwnDirs = []string{"/proc", "/sys", "/dev", "/tmp", "/run"}

// ownDirs are the directories whose content is a node's own, not the
// master's, on every kind of node: its tmpfs. A program the caller runs
// from one of them, or a file a moved process maps there, is not in
// what the node shows its processes of the master's files, so it goes
// with the process (ProcStart.Push). /var/tmp is the node's own only
// where no view shows the master's /var (the view shows the master's
// /var/tmp).
var ownDirs = []string{"/tmp", "/dev/shm", "/run"}

// NodeOwn reports whether the clean absolute path p lies in one of a
// node's own directories; view says whether the node shows its processes
// the master's files through a view (NodeHello.View).
func NodeOwn(p string, view bool) bool {
	for _, d := range ownDirs {
		if under(p, d) {
			return true
		}
	}
	return !view && under(p, "/var/tmp")
}

// under reports whether p is d or lies beneath it.
func under(p, d string) bool {
	return p == d || strings.HasPrefix(p, d+"/")
}
