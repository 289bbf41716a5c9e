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
	if bytes.Equal(a.Host.PublicKey().Marshal(), a.Node.PublicKey().Marshal()) {
		t.Errorf("host key and node key are the same key")
	}
	pub, err := LoadPublic(a.HostPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), a.Host.PublicKey().Marshal()) {
		t.Errorf("host_key.pub does not match host_key")
	}
	st, err := os.Stat(a.NodePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode = %o, want 600", st.Mode().Perm())
	}
}

func TestLoadSignerRejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte("not a key"), 0o600)
	if _, err := LoadSigner(p); err == nil {
		t.Fatalf("LoadSigner(garbage) = nil error, want one")
	}
}
