package wire

// ViewOwnDirs are the directories that a node with a view of the
// master's files has of its own: in the root its processes run in, these
// are the node's (and a fresh /run), never the master's. The master needs
// them to know what a node cannot see, such as node_up.d scripts kept
// under /run.
var ViewOwnDirs = []string{"/proc", "/sys", "/dev", "/tmp", "/run"}
