package master

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestNodeStateFiles: nodes.json and node_pins.json come back as saved,
// with the mode they were written with; a missing file is empty; what
// does not load is one line naming the file and the node.
func TestNodeStateFiles(t *testing.T) {
	dir := t.TempDir()
	if s, err := loadSaved(dir); err != nil || len(s) != 0 {
		t.Errorf("nodes.json missing: %v %v, want nothing", s, err)
	}
	if p, err := loadPins(dir); err != nil || len(p) != 0 {
		t.Errorf("node_pins.json missing: %v %v, want nothing", p, err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	m := &Master{cfg: Config{StateDir: dir}, nodes: map[int]*node{}, pins: map[int]ssh.PublicKey{7: key}}
	n := newNode(2, false, saved{})
	n.perms.Mode = 0o110
	m.nodes[2] = n
	m.nodes[3] = newNode(3, false, saved{}) // defaults: not written
	if err := m.saveLocked(); err != nil {
		t.Fatal(err)
	}
	if err := m.savePinsLocked(); err != nil {
		t.Fatal(err)
	}
	s, err := loadSaved(dir)
	if err != nil || len(s) != 1 || s[2].Mode != 0o110 {
		t.Errorf("nodes.json back: %+v %v, want node 2 of mode 0110 alone", s, err)
	}
	p, err := loadPins(dir)
	if err != nil || len(p) != 1 || p[7] == nil || string(p[7].Marshal()) != string(key.Marshal()) {
		t.Errorf("node_pins.json back: %v %v, want node 7's key alone", p, err)
	}
	for f, want := range map[string]os.FileMode{nodesFile: 0o644, pinsFile: 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", f, fi.Mode(), err, want)
		}
		if _, err := os.Stat(filepath.Join(dir, f+".new")); !os.IsNotExist(err) {
			t.Errorf("%s.new left: %v", f, err)
		}
	}

	for _, c := range []struct{ file, data, want string }{
		{nodesFile, `{"x":{}}`, `nodes.json: "x" is not a node number`},
		{nodesFile, `{"-1":{}}`, `nodes.json: "-1" is not a node number`},
		{nodesFile, `{"1":{"mode":511}}`, `nodes.json: node 1: mode 0777 has bits other than 0111`},
		{nodesFile, `{"1":{"held":"up"}}`, `nodes.json: node 1: state "up" cannot be held`},
		{nodesFile, `{"1":{"reason":"x"}}`, `nodes.json: node 1: reason "x": the node is not held`},
		{nodesFile, `[]`, `nodes.json: json: cannot unmarshal array`},
		{pinsFile, `{"4":"ssh-ed25519 AAAA"}`, `node_pins.json: node 4: ssh: `},
		{pinsFile, `{"y":""}`, `node_pins.json: "y" is not a node number`},
	} {
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		if c.file == nodesFile {
			_, err = loadSaved(dir)
		} else {
			_, err = loadPins(dir)
		}
		if err == nil || !strings.HasPrefix(err.Error(), dir+"/"+c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s: %v, want one line starting %s/%s", c.file, c.data, err, dir, c.want)
		}
	}
}
