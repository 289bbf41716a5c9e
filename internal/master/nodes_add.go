package master

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// addNode appends "node MAC" to the configuration file, which gives the
// MAC the number after the last node line (BProc's nodeadd), and takes the
// new file on as SIGHUP would. A file that the line would make invalid is
// left as it was.
func (m *Master) addNode(c localapi.Cred, macText string) (int, error) {
	if c.UID != 0 {
		return 0, errors.New("add-node: Permission denied (root only)")
	}
	mac, err := net.ParseMAC(strings.TrimSpace(macText))
	if err != nil || len(mac) != 6 {
		return 0, fmt.Errorf("add-node: %q is not a MAC address", macText)
	}
	m.addNodeMu.Lock()
	defer m.addNodeMu.Unlock()
	m.mu.Lock()
	path, cur := m.cfg.FilePath, m.cfg.File
	m.mu.Unlock()
	if path == "" {
		return 0, errors.New("add-node: the master runs without a configuration file")
	}
	if cur != nil {
		if num, ok := cur.NodeByMAC(mac); ok {
			return 0, fmt.Errorf("add-node: %s is node %d already", mac, num)
		}
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("add-node: %w", err)
	}
	text := old
	if len(text) > 0 && !bytes.HasSuffix(text, []byte("\n")) {
		text = append(text, '\n')
	}
	text = append(text, "node "+mac.String()+"\n"...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("add-node: %w", err)
	}
	if err := writeFileAtomic(path, text, 0o644); err != nil {
		return 0, fmt.Errorf("add-node: %w", err)
	}
	file, err := config.Load(path, true)
	if err == nil {
		if num, ok := file.NodeByMAC(mac); ok {
			m.log.Info("node added", "mac", mac.String(), "node", num, "file", path)
			m.applyConfig(file)
			return num, nil
		}
		err = errors.New("the new line names no node")
	}
	restore := writeFileAtomic(path, old, 0o644)
	if old == nil {
		restore = os.Remove(path)
	}
	if restore != nil {
		m.log.Error("add-node: could not restore the configuration file", "file", path, "err", restore)
	}
	return 0, fmt.Errorf("add-node: %s: %w", mac, err)
}
