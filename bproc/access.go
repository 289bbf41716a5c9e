package bproc

import (
	"context"
	"fmt"
	"os"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// Identity is who asks: the master knows a caller by SO_PEERCRED and
// SO_PEERGROUPS, its effective IDs and supplementary groups.
type Identity struct {
	UID, GID uint32
	Groups   []uint32
}

// Self is the calling program's Identity.
func Self() (Identity, error) {
	groups, err := os.Getgroups()
	if err != nil {
		return Identity{}, fmt.Errorf("identity: %w", err)
	}
	id := Identity{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	for _, g := range groups {
		id.Groups = append(id.Groups, uint32(g))
	}
	return id, nil
}

// MayRun says whether id may start processes on node n now, by the rules
// the master applies (master/access.go): the node up (or, for root, in
// error or unavailable), then its owner, group and mode, like a file's
// execute bits. nil, or an error that errors.Is finds to be ErrNodeDown
// or fs.ErrPermission.
func MayRun(n NodeStatus, id Identity) error {
	err := localapi.AccessError(n.State, n.UID, n.GID, n.Mode, id.UID, id.GID, id.Groups)
	if err == nil {
		return nil
	}
	if err == localapi.ErrNodeDown {
		return ErrNodeDown
	}
	return apiclient.NewError(err.Error(), localapi.CodeOf(err))
}

// Access says whether the calling program may start processes on node num
// (BProc's bproc_access): nil, or why not. The master decides again at each
// start; this is for choosing nodes beforehand.
func (c *Client) Access(ctx context.Context, num int) error {
	if num == NodeMaster {
		return nil
	}
	nd, err := c.Node(ctx, num)
	if err != nil {
		return err
	}
	id, err := Self()
	if err != nil {
		return err
	}
	if err := MayRun(nd, id); err != nil {
		return fmt.Errorf("node %d: %w", num, err)
	}
	return nil
}
