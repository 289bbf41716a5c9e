package keys

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateIsStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Host.PublicKey().Marshal(), b.Host.PublicKey().Marshal()) {
		t.Errorf("host key changed between starts")
	}
	pub, err := LoadPublic(a.HostPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), a.Host.PublicKey().Marshal()) {
		t.Errorf("host_key.pub does not match host_key")
	}
	st, err := os.Stat(a.HostPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("host key mode = %o, want 600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "node_key")); err == nil {
		t.Errorf("a node key was made: nodes share no key")
	}
}

// A state directory of an older bproc, with its node_key, still loads.
func TestOldNodeKeyIgnored(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "node_key"), []byte("an old node key\n"), 0o600)
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatalf("state dir with an old node_key: %v", err)
	}
}

func TestLoadSignerRejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte("not a key"), 0o600)
	if _, err := LoadSigner(p); err == nil {
		t.Fatalf("LoadSigner(garbage) = nil error, want one")
	}
}
