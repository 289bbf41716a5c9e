package localapi

import "slices"

// AccessError is why the user uid (gid, groups) may not start processes
// on a node in state with owner, group and mode now, in BProc's words, or
// "" when they may: the node up (or, for root, in error or unavailable),
// then its owner, group and mode, like a file's execute bits; root always
// may. The master decides by it; clients use it to tell in advance. The
// error is ErrNodeDown, ErrUnavailable or ErrPermission.
func AccessError(state string, owner, group, mode uint32, uid, gid uint32, groups []uint32) error {
	switch state {
	case StateUp:
	case StateDown, StateBoot:
		return ErrNodeDown
	default: // error, unavailable: for root to look into
		if uid != 0 {
			return ErrUnavailable
		}
	}
	var bit uint32
	switch {
	case uid == 0:
		return nil
	case uid == owner:
		bit = 0o100
	case gid == group || slices.Contains(groups, group):
		bit = 0o010
	default:
		bit = 0o001
	}
	if mode&bit == 0 {
		return ErrPermission
	}
	return nil
}
