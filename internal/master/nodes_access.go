package master

import (
	"slices"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// perms are a node's owner, group and mode, as BProc kept them: like a
// file's execute bits, they say who may start processes on the node. The
// administrator sets them; they are kept in the state directory.
type perms struct {
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Mode uint32 `json:"mode"` // only 0111 matters
}

// defaultPerms: everyone may use a node that is up (BProc's mode after a
// node's setup succeeded).
var defaultPerms = perms{UID: 0, GID: 0, Mode: 0o111}

// accessError is why the caller may not start a process on n now, or nil:
// one of BProc's errors, whose texts users and scripts know.
func (n *node) accessError(c localapi.Cred) error {
	if n.state == localapi.StateUp && n.conn == nil {
		return errNodeDown // up, but its connection just went
	}
	return localapi.AccessError(n.state, n.perms.UID, n.perms.GID, n.perms.Mode, c.UID, c.GID, c.Groups)
}

// inGroup says whether gid is the caller's group or one of its groups.
func inGroup(c localapi.Cred, gid uint32) bool {
	return c.GID == gid || slices.Contains(c.Groups, gid)
}
