package node

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/wire"
)

// fakeMaster is the master's file service in memory: files put there are
// what a push fetches, and dials counts the sessions opened.
type fakeMaster struct {
	t      *testing.T
	client *sftp.Client
	dials  int
}

func newFakeMaster(t *testing.T) *fakeMaster {
	a, b := socketPair(t)
	srv := sftp.NewRequestServer(a, sftp.InMemHandler())
	go srv.Serve()
	c, err := sftp.NewClientPipe(b, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return &fakeMaster{t: t, client: c}
}

// put makes path hold content on the master and returns its entry.
func (m *fakeMaster) put(path, content string) wire.PushFile {
	m.client.MkdirAll(filepath.Dir(path))
	w, err := m.client.Create(path)
	if err != nil {
		m.t.Fatal(err)
	}
	w.Write([]byte(content))
	w.Close()
	sum := sha256.Sum256([]byte(content))
	return wire.PushFile{Path: path, Kind: "file", Size: int64(len(content)), Mode: 0o755,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Sum: hex.EncodeToString(sum[:]), MTime: time.Unix(1e9, 0).UnixNano()}
}

func (m *fakeMaster) dial() (*sftp.Client, error) {
	m.dials++
	return m.client, nil
}

// TestPushFile: a pushed program is fetched once and placed with the
// master's mode; pushed again it costs nothing; changed on the node it is
// placed again; changed on the master it is fetched again; content that
// is not the master's sum is refused. As root the placement is a hard
// link to the cached copy, as anyone else a copy of it.
func TestPushFile(t *testing.T) {
	dir, root := pushRoot(t)
	s := testSlave(t)
	if _, err := s.pushed.open(filepath.Join(dir, ".bproc-cache"), 0); err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t)
	path := filepath.Join(dir, "usr/bin/prog")
	check := func(when, want string, dials int) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || string(b) != want {
			t.Errorf("%s: the node's copy holds %q (%v), want %q", when, b, err, want)
		}
		if st, err := os.Stat(path); err == nil && (st.Mode().Perm() != 0o755 || !st.ModTime().Equal(time.Unix(1e9, 0))) {
			t.Errorf("%s: mode %v mtime %v, want 0755 and the master's", when, st.Mode(), st.ModTime())
		}
		if m.dials != dials {
			t.Errorf("%s: %d fetches so far, want %d", when, m.dials, dials)
		}
	}

	v1 := m.put("/usr/bin/prog", "version 1")
	if err := s.pushFile(root, v1, m.dial); err != nil {
		t.Fatal(err)
	}
	check("first push", "version 1", 1)
	if err := s.pushFile(root, v1, m.dial); err != nil {
		t.Fatal(err)
	}
	check("second push", "version 1", 1)

	time.Sleep(20 * time.Millisecond) // past the file system clock's tick (ctime is coarse)
	if err := os.WriteFile(path, []byte("changed on the node"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.pushFile(root, v1, m.dial); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "version 1" {
		t.Errorf("after a change on the node the copy holds %q, want it placed again", b)
	}

	dials := m.dials
	v2 := m.put("/usr/bin/prog", "version 2, longer")
	if err := s.pushFile(root, v2, m.dial); err != nil {
		t.Fatal(err)
	}
	check("changed on the master", "version 2, longer", dials+1)

	torn := m.put("/usr/bin/other", "what the master has now")
	other := sha256.Sum256([]byte("what the master had when it summed it"))
	torn.Sum = hex.EncodeToString(other[:]) // changed while the node fetched it
	err := s.pushFile(root, torn, m.dial)
	if err == nil || !strings.Contains(err.Error(), "other content than the master's sum") {
		t.Errorf("content that is not the sum: %v", err)
	}
	if _, serr := os.Lstat(filepath.Join(dir, "usr/bin/other")); serr == nil {
		t.Error("content that is not the sum was placed")
	}

	bad := v1
	bad.Sum = "not a sum"
	if err := s.pushFile(root, bad, m.dial); err == nil {
		t.Error("a push with a malformed sum succeeded")
	}
}
