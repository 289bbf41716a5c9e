package master

import (
	"os/user"
	"slices"
	"strconv"
	"time"

	"github.com/bproc/bproc/internal/shared/asuser"
)

// A node that kept processes from a master before this one says so in its
// first hello (NodeHello.Kept, KeptUIDs), and its processes may read the
// master's files (a diskless node's view) before their ghosts come back
// and the master knows their credentials (files.go, credOnNode). Until
// then, the master serves such a user's files with the credentials of the
// user database (primary group and groups), for as long as the node's
// process of that user waits for its ghost (node.unclaimed): past
// claimWait, or once its ghost is back, that process's own rule holds.
// Root is left out: a node claiming a kept process of root would read
// every file of the master's; root's processes wait for their ghosts.

// The node's files connection (its view's) may dial the new master before
// the node's own connection has said hello: a user's files asked for then
// wait for that hello (at most helloWait), which says what the node kept.
const helloWait = 5 * time.Second

// awaitHello waits until node n has said hello to this master, at most
// helloWait.
func (m *Master) awaitHello(n *node) {
	m.mu.Lock()
	ch := n.helloedLocked()
	m.mu.Unlock()
	t := time.NewTimer(helloWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-m.routines.stopped:
	}
}

// markHelloed says that node n has said hello to this master, and the
// master has taken in what it kept.
func (m *Master) markHelloed(n *node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := n.helloedLocked()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// helloedLocked is closed once n has said hello to this master; under m.mu.
func (n *node) helloedLocked() chan struct{} {
	if n.helloed == nil {
		n.helloed = make(chan struct{})
	}
	return n.helloed
}

// keptCreds are the user database's credentials of the non-root users of
// uids; a user it does not know is left out.
func keptCreds(uids []uint32) map[uint32]asuser.Cred {
	out := make(map[uint32]asuser.Cred)
	for _, uid := range uids {
		if _, done := out[uid]; done || uid == 0 {
			continue
		}
		u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
		if err != nil {
			continue
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			continue
		}
		c := asuser.Cred{UID: uid, GID: uint32(gid)}
		ids, _ := u.GroupIds()
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
		if !slices.Contains(c.Groups, c.GID) {
			c.Groups = append(c.Groups, c.GID)
		}
		out[uid] = c
	}
	return out
}

// keptCredLocked is the credentials of uid on n from a process n kept
// that waits for its ghost; under m.mu.
func (n *node) keptCredLocked(uid uint32) (asuser.Cred, bool) {
	for _, owner := range n.unclaimed {
		if owner == uid {
			c, ok := n.keptCreds[uid]
			return c, ok
		}
	}
	return asuser.Cred{}, false
}
