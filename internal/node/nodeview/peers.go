package nodeview

import (
	"io"

	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Peers lets a view fetch a large file from another node that has its
// content, or is fetching it, instead of from the master (package nodeview
// gives one: the master says which node, the node shows the master's
// ticket there).
type Peers interface {
	// Fetch copies version v to w from another node, for user uid. It
	// reports false, having written nothing, when the master says to
	// fetch from it instead.
	Fetch(uid uint32, v wire.Version, w io.Writer) (fromPeer bool, err error)
}

// defaultPeerMin is the size from which a file is asked of another node:
// every file with content. A file many nodes open at once (the program
// of a bpsh -a, its libraries) then leaves the master about once whatever
// its size, for the price of one round trip to the master per file
// fetched (the nodes keep their connections to each other).
const defaultPeerMin = 1

// ErrNoCopy: this node has no copy of the content asked for.
var ErrNoCopy = contentcache.ErrNoCopy

// ServeCopy writes this node's copy of the content of ver to w for another
// node, also while the copy is still arriving from the master (or from a
// third node): it follows the copy until it is whole. The caller has
// checked the master's ticket for ver; the other node checks the sum.
func (v *View) ServeCopy(ver wire.Version, w io.Writer) (int64, error) {
	sum, err := contentcache.ParseSum(ver.Sum)
	if err != nil {
		return 0, err
	}
	return v.cache.ServeCopy(sum, ver.Size, w)
}

// fetchWithPeers is the fetch of an open: from another node when the
// file is large and the master names one, from the master otherwise, or
// when the other node fails (what it wrote is thrown away first). What
// another node sends is checked against the sum like what the master
// sends: a node cannot pass off other content.
func (v *View) fetchWithPeers(uid uint32, ver wire.Version, w *contentcache.Writer, fromMaster func(io.Writer) error) error {
	if v.peers != nil && ver.Size >= v.peerMin {
		ok, err := v.peers.Fetch(uid, ver, w)
		switch {
		case ok && err == nil:
			return nil
		case ok:
			v.log.Warn("fetch from another node failed; from the master", "path", ver.Path, "err", err)
			if rerr := w.Reset(); rerr != nil {
				return rerr
			}
		case err != nil:
			v.log.Debug("no source from the master", "path", ver.Path, "err", err)
		}
	}
	return fromMaster(w)
}
