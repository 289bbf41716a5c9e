package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// A node state file is a JSON object in the state directory: node
// number -> what the master keeps of that node across restarts
// (nodes.json, node_pins.json).

// loadByNode reads file in dir, what it says of each node (as R, made V
// by check, whose error names what is wrong); a missing file says
// nothing. what names the file in errors.
func loadByNode[R, V any](dir, file, what string, check func(r R) (V, error)) (map[int]V, error) {
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]V{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	var raw map[string]R
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[int]V, len(raw))
	for k, r := range raw {
		num, err := strconv.Atoi(k)
		if err != nil || num < 0 {
			return nil, fmt.Errorf("%s: %q is not a node number", path, k)
		}
		v, err := check(r)
		if err != nil {
			return nil, fmt.Errorf("%s: node %d: %w", path, num, err)
		}
		out[num] = v
	}
	return out, nil
}

// saveByNode writes byNode as file in dir, replacing it atomically so
// that a crash leaves the old or the new one.
func saveByNode[R any](dir, file, what string, byNode map[int]R, perm os.FileMode) error {
	raw := make(map[string]R, len(byNode))
	for num, r := range byNode {
		raw[strconv.Itoa(num)] = r
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, file), append(b, '\n'), perm); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
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
