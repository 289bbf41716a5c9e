package master

import (
	"github.com/bproc/bproc/localapi"
	"github.com/bproc/bproc/peercred"
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

// allows says whether the x bit for this caller is set. Root always may.
func (p perms) allows(c peercred.Cred) bool {
	if c.UID == 0 {
		return true
	}
	if c.UID == p.UID {
		return p.Mode&0o100 != 0
	}
	if inGroup(c, p.GID) {
		return p.Mode&0o010 != 0
	}
	return p.Mode&0o001 != 0
}

func inGroup(c peercred.Cred, gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// accessError is why the caller may not start a process on n now, or "".
// The texts are BProc's, which users and scripts know.
func (n *node) accessError(c peercred.Cred) string {
	switch n.state {
	case localapi.StateUp:
	case localapi.StateDown, localapi.StateBoot:
		return errNodeDown
	default: // error, unavailable: for root to look into
		if c.UID != 0 {
			return errNodeUnavailable
		}
	}
	if n.conn == nil {
		return errNodeDown
	}
	if !n.perms.allows(c) {
		return errPermission
	}
	return ""
}
