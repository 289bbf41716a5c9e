package master

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// saved is what the state directory keeps of a node across master
// restarts: what an administrator set.
type saved struct {
	perms
	// Held is a state the administrator put the node in (error or
	// unavailable); it is taken again when the node comes back.
	Held string `json:"held,omitempty"`
	// Reason and Since: why and since when (bpctl --reason).
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

func (s saved) since() time.Time {
	if s.Since == nil {
		return time.Time{}
	}
	return *s.Since
}

const nodesFile = "nodes.json"

// loadSaved reads the node settings; a missing file means defaults.
func loadSaved(dir string) (map[int]saved, error) {
	return loadByNode(dir, nodesFile, "node settings", func(v saved) (saved, error) {
		if v.Mode&^0o111 != 0 {
			return v, fmt.Errorf("mode %#o has bits other than 0111", v.Mode)
		}
		if v.Held != "" && v.Held != localapi.StateError && v.Held != localapi.StateUnavailable {
			return v, fmt.Errorf("state %q cannot be held", v.Held)
		}
		if v.Reason != "" {
			if err := localapi.CheckReason(v.Reason); v.Held == "" || err != nil {
				return v, fmt.Errorf("reason %q: %v", v.Reason, cmp.Or(err, errors.New("the node is not held")))
			}
		}
		return v, nil
	})
}

// saveLocked writes every node's settings that are not the defaults.
func (m *Master) saveLocked() error {
	byNode := make(map[int]saved, len(m.nodes))
	for num, n := range m.nodes {
		if n.perms != defaultPerms || n.held != "" {
			byNode[num] = saved{perms: n.perms, Held: n.held, Reason: n.reason, Since: n.heldSince()}
		}
	}
	return saveByNode(m.cfg.StateDir, nodesFile, "node settings", byNode, 0o644)
}
