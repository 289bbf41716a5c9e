package node

import (
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestReadImageRefuses: an image the node cannot read is an error naming
// why, before anything is rebuilt.
func TestReadImageRefuses(t *testing.T) {
	s := testSlave(t)
	for _, tc := range []struct {
		name string
		move wire.Move
		in   string
		says string
	}{
		{"file without a view", wire.Move{ImageFile: "/tmp/img", ImageSize: 10}, "", "image file /tmp/img: this node has no view"},
		{"garbage", wire.Move{ImageSize: 10}, "0123456789", ""},
		{"short", wire.Move{ImageSize: 1 << 20}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := &wire.ProcStart{Command: wire.Command{Argv: []string{"x"}}, Move: &tc.move}
			img, _, done, err := s.readImage(strings.NewReader(tc.in), ps)
			if err == nil {
				done()
				t.Fatalf("read an image: %v", img)
			}
			if !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line saying %q", err, tc.says)
			}
		})
	}
}

// TestUnroot: paths read through the view's root are the process's own.
func TestUnroot(t *testing.T) {
	img := &vmadump.Image{Exe: "/run/bproc/view/bin/prog", Cwd: "/run/bproc/view",
		Maps: []vmadump.Mapping{{Path: "/run/bproc/view/lib/libc.so.6"}, {Path: "/run/bproc/viewer/x"}, {Path: "/other"}}}
	unroot(img, "/run/bproc/view")
	if img.Exe != "/bin/prog" || img.Cwd != "/" {
		t.Errorf("exe %q cwd %q, want /bin/prog and /", img.Exe, img.Cwd)
	}
	want := []string{"/lib/libc.so.6", "/run/bproc/viewer/x", "/other"}
	for i, m := range img.Maps {
		if m.Path != want[i] {
			t.Errorf("map %d: %q, want %q", i, m.Path, want[i])
		}
	}
}
