package master

import (
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
	return loadByNode(dir, pinsFile, "node pins", func(v string) (ssh.PublicKey, error) {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(v))
		return key, err
	})
}

// savePinsLocked writes every pin (under m.mu), atomically.
func (m *Master) savePinsLocked() error {
	byNode := make(map[int]string, len(m.pins))
	for num, k := range m.pins {
		byNode[num] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	}
	return saveByNode(m.cfg.StateDir, pinsFile, "node pins", byNode, 0o600)
}
