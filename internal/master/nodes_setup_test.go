package master

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVisibleToView(t *testing.T) {
	link := filepath.Join(t.TempDir(), "run-link")
	if err := os.Symlink("/run", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, under string // under: "" when a view node sees dir
	}{
		{"/etc/bproc/node_up.d", ""},
		{"/var/lib/bproc/node_up.d", ""},
		{"/runner/node_up.d", ""},
		{"/run/bproc/node_up.d", "/run"},
		{"/tmp/node_up.d", "/tmp"},
		{"/tmp", "/tmp"},
		{"/dev/shm/up.d", "/dev"},
		{"/etc/../run/x", "/run"},
		{link, "/run"},
	} {
		err := visibleToView(c.dir)
		switch {
		case c.under == "" && err != nil:
			t.Errorf("visibleToView(%q) = %v, want nil", c.dir, err)
		case c.under != "" && (err == nil || !strings.Contains(err.Error(), "is under "+c.under+", which a node has of its own")):
			t.Errorf("visibleToView(%q) = %v, want under %s", c.dir, err, c.under)
		}
	}
}
