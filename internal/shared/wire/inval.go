package wire

// A diskless node's view lets its kernel cache what the master says is
// watched: the master watches the directories whose entries it served a
// node (inotify) and tells the node when one of them changes, so that the
// node's next run sees the change.
const (
	// StatWatched is the sftp extended attribute on a node's files
	// session, in the answer to an lstat or stat, saying that the master
	// tells this node of any change of that entry (and, for a directory,
	// of its entries) from now on, and that any user could have had this
	// answer (every directory on the way may be searched by all): the
	// node's kernel may keep it, shared by all users, until told. Its
	// value is empty.
	StatWatched = "watched@bproc"

	// ReqInval (master -> node, on the files connection, wanting a
	// reply): entries that changed; payload Inval. The node replies once
	// its kernel no longer holds them, so that a process the master
	// starts after the reply sees the change.
	ReqInval = "bproc-inval"
)

// Inval names master paths whose entries, attributes and, for a
// directory, whole subtree a node must stop trusting; Attrs those of
// which only the attributes changed (a directory's mode, a file's
// content), whose entries still name the same thing; All is every path.
type Inval struct {
	Paths []string `json:"paths,omitempty"`
	Attrs []string `json:"attrs,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// MaxInvalPaths bounds an Inval: more paths are sent as All.
const MaxInvalPaths = 1024
