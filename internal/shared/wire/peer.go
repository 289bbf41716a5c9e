package wire

import (
	"errors"
	"path"
	"time"
)

// Nodes fetch large files of the master from each other, so that one file
// wanted by many nodes leaves the master about once: the master says
// which node to fetch from, and signs a ticket the node shows there.
const (
	// ReqPeerAddr (node -> master, on the files connection): the address
	// the node serves its copies of the master's files on; payload
	// "host:port".
	ReqPeerAddr = "bproc-peer-addr"
	// ReqSource (node -> master, on the files connection): where to fetch
	// a version of a file from; payload SourceRequest, reply Source.
	ReqSource = "bproc-source"
	// ChanPeerCopy (node -> node): one copy, for a Ticket (payload).
	ChanPeerCopy = "bproc-peer-copy"
	// PeerUser is the SSH user of a node's connection to another node.
	PeerUser = "bproc-peer"
)

// Version is one version of a master file: what a copy is of. A copy is
// of content, Sum (SHA-256, hex); Path is the file the master checks the
// user may read and has that content.
type Version struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	Sum  string `json:"sum"`
}

// SourceRequest asks where a user's node should fetch v from.
type SourceRequest struct {
	UID     uint32  `json:"uid"`
	Version Version `json:"version"`
}

// Source answers a SourceRequest: a node's address, the key it shows
// there, and a ticket for it; or nothing (fetch from the master).
type Source struct {
	Addr string `json:"addr,omitempty"`
	// HostKey is the serving node's own key (ssh wire form), which the
	// master pinned at its boot: the fetching node checks it as the
	// host key. Nodes share no key.
	HostKey []byte `json:"host_key,omitempty"`
	Ticket  []byte `json:"ticket,omitempty"` // Encode(Ticket)
	Sig     []byte `json:"sig,omitempty"`    // the master's host key's signature of Ticket
}

// Ticket lets node Node, which authenticates with Key, have a copy of
// Version from another node until Expires: the master checked that the
// user may read that version. The serving node checks Key against the
// key the client signed with, so a ticket is of no use to another node.
type Ticket struct {
	Version Version `json:"version"`
	Node    int     `json:"node"`
	Key     []byte  `json:"key"`     // the fetching node's pinned key, ssh wire form
	Expires int64   `json:"expires"` // unix seconds
}

// Validate rejects a version no copy could be of.
func (v Version) Validate() error {
	switch {
	case !path.IsAbs(v.Path) || path.Clean(v.Path) != v.Path:
		return errors.New("version: not a clean absolute path")
	case v.Size < 0:
		return errors.New("version: negative size")
	case !validSum(v.Sum):
		return errors.New("version: not a sha256 sum")
	}
	return nil
}

// Valid says whether t may still be used.
func (t Ticket) Valid(now time.Time) bool { return now.Unix() <= t.Expires }

// ChanAPI (node -> master) carries the local API (package localapi) of a
// process on the node: what libbproc and the tools ask from there. The
// node says who the process is (APIRequest); the master answers the
// questions that need no process of the master's (the node table, the
// process list), as that user.
const ChanAPI = "bproc-api"

// APIRequest is who opened a ChanAPI: a process of the node.
type APIRequest struct {
	PID    int      `json:"pid"` // on the node
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// Moving a process from one node to another: the master has its node read
// it (ChanDump, payload DumpRequest), which sends the image's size (8
// bytes, big-endian) and the image, and holds the process stopped until
// the master says it runs elsewhere (ReqMoved: the node ends it) or closes
// the channel (the move failed: it goes on where it was).
const (
	ChanDump = "bproc-dump"
	ReqMoved = "bproc-moved"
)

// DumpRequest names the process of the node to read: its PID there, and
// whose it must be.
type DumpRequest struct {
	PID int    `json:"pid"`
	UID uint32 `json:"uid"`
}
