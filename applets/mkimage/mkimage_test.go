package mkimage

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bproc/bproc/applets"
)

// The image links the applets main registers; these stand for them.
func init() {
	applets.Register([]applets.Applet{{Name: "bpsh", Link: true}, {Name: "bpstat", Link: true}, {Name: "mkimage"}})
}

// setup writes a config naming a kernel and an empty modules tree, and
// returns it with the state directory.
func setup(t *testing.T, kernelLine string) (cfg, state string) {
	t.Helper()
	dir := t.TempDir()
	mods := filepath.Join(dir, "modules", "6.1.0-test")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "modules.dep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if kernelLine == "" {
		k := filepath.Join(dir, "vmlinuz")
		if err := os.WriteFile(k, []byte("kernel"), 0o644); err != nil {
			t.Fatal(err)
		}
		kernelLine = "kernel " + k
	}
	cfg = filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(kernelLine+"\nmodules "+mods+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "state")
}

func run(t *testing.T, args ...string) error {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	return Main(context.Background(), args, applets.IO{Stdin: null, Stdout: null, Stderr: null})
}

func TestWritesImage(t *testing.T) {
	cfg, state := setup(t, "")
	out := filepath.Join(t.TempDir(), "image.cpio.gz")
	if err := run(t, "--config", cfg, "--state-dir", state, "-o", out); err != nil {
		t.Fatalf("mkimage: %v", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("image mode %v, want 0600: it holds the node key", fi.Mode().Perm())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image is not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("image is not a newc cpio: %v", err)
	}
	byName := map[string]cpio.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := byName["init"]; !ok || r.FileSize != uint64(self.Size()) || r.Mode&0o111 == 0 {
		t.Errorf("init: %v (found %v), want the running binary (%d bytes), executable", r.Info, ok, self.Size())
	}
	if r, ok := byName["bin/bpsh"]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFLNK {
		t.Errorf("bin/bpsh: %v (found %v), want a symlink to /init", r.Info, ok)
	}
	key, err := os.ReadFile(filepath.Join(state, "host_key.pub"))
	if err != nil {
		t.Fatalf("the state dir has no host key after mkimage: %v", err)
	}
	if r, ok := byName["var/lib/bproc/host_key.pub"]; !ok {
		t.Errorf("no host key in the image")
	} else if data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize))); !bytes.Equal(data, key) {
		t.Errorf("the image's host key is not the state dir's")
	}
	if _, ok := byName["var/lib/bproc/node_key"]; ok {
		t.Errorf("the image carries a node key")
	}
}

func TestBadInput(t *testing.T) {
	cfg, state := setup(t, "")
	missingKernel, state2 := setup(t, "kernel /nonexistent/vmlinuz")
	noKernel := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(noKernel, []byte("bprocport 2223\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"--config", cfg, "--state-dir", state}, "-o"},
		{"missing kernel", []string{"--config", missingKernel, "--state-dir", state2, "-o", out}, "/nonexistent/vmlinuz"},
		{"no kernel line", []string{"--config", noKernel, "--state-dir", state, "-o", out}, "names no kernel"},
		{"missing config", []string{"--config", "/nonexistent/config", "--state-dir", state, "-o", out}, "/nonexistent/config"},
		{"output dir missing", []string{"--config", cfg, "--state-dir", state, "-o", "/nonexistent/dir/image"}, "/nonexistent/dir/image"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("mkimage %v = %v, want an error naming %q", tt.args, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed mkimage left %s", out)
			}
		})
	}
}
