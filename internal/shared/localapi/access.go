package localapi

import "slices"

// BProc's texts for a node a user may not start processes on.
const (
	ErrTextNodeDown    = "Node is down"
	ErrTextUnavailable = "Node is unavailable" // Scyld's state, not BProc's
	ErrTextPermission  = "Permission denied"
	// A number that is no node of the master's table.
	ErrTextInvalidNode = "Invalid node number"
)

// AccessError is why the user uid (gid, groups) may not start processes
// on a node in state with owner, group and mode now, in BProc's words, or
// "" when they may: the node up (or, for root, in error or unavailable),
// then its owner, group and mode, like a file's execute bits; root always
// may. The master decides by it; clients use it to tell in advance.
func AccessError(state string, owner, group, mode uint32, uid, gid uint32, groups []uint32) string {
	switch state {
	case StateUp:
	case StateDown, StateBoot:
		return ErrTextNodeDown
	default: // error, unavailable: for root to look into
		if uid != 0 {
			return ErrTextUnavailable
		}
	}
	var bit uint32
	switch {
	case uid == 0:
		return ""
	case uid == owner:
		bit = 0o100
	case gid == group || slices.Contains(groups, group):
		bit = 0o010
	default:
		bit = 0o001
	}
	if mode&bit == 0 {
		return ErrTextPermission
	}
	return ""
}
