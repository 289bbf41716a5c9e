package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// pinsFile keeps the key each node made for its current boot, so that a
// master restarted while nodes run takes them back by their keys: they
// have no token any more.
const pinsFile = "node_pins.json"

// loadPins reads the pins; a missing file means none. A pin that does not
// parse is an error naming it: a master that forgot a pin would strand
// that node until it boots again, which should not pass unnoticed.
func loadPins(dir string) (map[int]ssh.PublicKey, error) {
	path := filepath.Join(dir, pinsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]ssh.PublicKey{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node pins: %w", err)
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[int]ssh.PublicKey, len(raw))
	for k, v := range raw {
		num, err := strconv.Atoi(k)
		if err != nil || num < 0 {
			return nil, fmt.Errorf("%s: %q is not a node number", path, k)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: node %d: %w", path, num, err)
		}
		out[num] = key
	}
	return out, nil
}

// savePinsLocked writes every pin (under m.mu), atomically.
func (m *Master) savePinsLocked() error {
	raw := make(map[string]string, len(m.pins))
	for num, k := range m.pins {
		raw[strconv.Itoa(num)] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(m.cfg.StateDir, pinsFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save node pins: %w", err)
	}
	return nil
}
