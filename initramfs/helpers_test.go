package initramfs

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/u-root/u-root/pkg/cpio"
)

// testBinary is what tests put in as /init: bin/bproc when $BPROC_BIN says
// where it is, else the running test binary (a real Go binary of about the
// same size).
func testBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BPROC_BIN"); p != "" {
		return p
	}
	p, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable() = %v", err)
	}
	return p
}

// testOptions returns options with the test binary and fresh keys in a
// temporary state directory.
func testOptions(t *testing.T) Options {
	t.Helper()
	state := t.TempDir()
	if _, err := keys.LoadOrCreate(state); err != nil {
		t.Fatalf("keys.LoadOrCreate(%s) = %v", state, err)
	}
	return Options{
		Binary:     testBinary(t),
		Applets:    []string{"bpctl", "bpmaster", "bpsh", "bpslave", "bpstat"},
		HostKeyPub: HostKeyFile(state),
		CacheDir:   filepath.Join(t.TempDir(), "cache"),
	}
}

// fakeKernel is the version of the module tree fakeModules makes.
const fakeKernel = "6.1.0-99-test"

// fakeModules makes a module tree shaped like Debian's: virtio_net and its
// dependencies, igb with a hyphenated, compressed dependency, a module no
// one asks for, and a built-in virtio_pci.
func fakeModules(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, fakeKernel)
	files := map[string]string{
		"modules.dep": `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:

kernel/drivers/net/ethernet/intel/igb/igb.ko: kernel/drivers/dca/dca.ko kernel/drivers/i2c/algos/i2c-algo-bit.ko.xz
kernel/drivers/dca/dca.ko:
kernel/drivers/i2c/algos/i2c-algo-bit.ko.xz:
kernel/fs/fuse/fuse.ko:
`,
		"modules.builtin": "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/mem.ko\n",
	}
	for _, m := range []string{
		"kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko",
		"kernel/net/core/failover.ko", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/net/ethernet/intel/igb/igb.ko",
		"kernel/drivers/dca/dca.ko", "kernel/drivers/i2c/algos/i2c-algo-bit.ko.xz",
		"kernel/fs/fuse/fuse.ko",
	} {
		files[m] = "\x7fELF fake module " + m
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// file is one record of an image read back, with its content.
type file struct {
	cpio.Info
	data []byte
}

// readImage reads an image (gzip-compressed or not) with u-root's reader:
// the records by path ("init", "bin/bpsh", ...) and their order.
func readImage(t *testing.T, b []byte) (map[string]file, []string) {
	t.Helper()
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip.NewReader = %v", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gunzip image = %v", err)
		}
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("cpio.ReadAllRecords = %v", err)
	}
	m := make(map[string]file)
	var order []string
	for _, r := range recs {
		data, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if err != nil {
			t.Fatalf("read record %s = %v", r.Name, err)
		}
		if _, dup := m[r.Name]; dup {
			t.Errorf("record %s appears twice", r.Name)
		}
		m[r.Name] = file{Info: r.Info, data: data}
		order = append(order, r.Name)
	}
	return m, order
}

// writeImage runs Write into memory.
func writeImage(t *testing.T, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, o); err != nil {
		t.Fatalf("Write = %v", err)
	}
	return buf.Bytes()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lines splits text into non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
