package master

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	path := filepath.Join(dir, nodesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]saved{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node settings: %w", err)
	}
	var raw map[string]saved
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[int]saved, len(raw))
	for k, v := range raw {
		num, err := strconv.Atoi(k)
		if err != nil || num < 0 {
			return nil, fmt.Errorf("%s: %q is not a node number", path, k)
		}
		if v.Mode&^0o111 != 0 {
			return nil, fmt.Errorf("%s: node %d: mode %#o has bits other than 0111", path, num, v.Mode)
		}
		if v.Held != "" && v.Held != localapi.StateError && v.Held != localapi.StateUnavailable {
			return nil, fmt.Errorf("%s: node %d: state %q cannot be held", path, num, v.Held)
		}
		if v.Reason != "" {
			if err := localapi.CheckReason(v.Reason); v.Held == "" || err != nil {
				return nil, fmt.Errorf("%s: node %d: reason %q: %v", path, num, v.Reason, cmp.Or(err, errors.New("the node is not held")))
			}
		}
		out[num] = v
	}
	return out, nil
}

// saveLocked writes every node's settings, replacing the file atomically
// so that a crash leaves the old or the new one.
func (m *Master) saveLocked() error {
	raw := make(map[string]saved, len(m.nodes))
	for num, n := range m.nodes {
		if n.perms != defaultPerms || n.held != "" {
			raw[strconv.Itoa(num)] = saved{perms: n.perms, Held: n.held, Reason: n.reason, Since: n.heldSince()}
		}
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(m.cfg.StateDir, nodesFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save node settings: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so that a crash leaves the old content or the new.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
