package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bproc/bproc/internal/shared/keys"
	"golang.org/x/sys/unix"
)

func TestImageContents(t *testing.T) {
	o := testOptions(t)
	o.ModulesDir = fakeModules(t)
	o.KernelVersion = fakeKernel
	o.Modules = []string{"virtio_pci", "virtio-net", "igb"}
	o.OptionalModules = []string{"e1000", "virtio_net"}
	o.Files = map[string][]byte{"/etc/bproc/master": []byte("10.0.0.1:2223\n")}
	img := writeImage(t, o)
	if !bytes.HasPrefix(img, []byte{0x1f, 0x8b}) {
		t.Fatalf("image starts with % x, want gzip magic", img[:2])
	}
	files, order := readImage(t, img)

	init := files["init"]
	if init.Mode != cpio.S_IFREG|0o755 {
		t.Errorf("init mode = %#o, want %#o", init.Mode, cpio.S_IFREG|0o755)
	}
	if !bytes.Equal(init.data, mustRead(t, o.Binary)) {
		t.Errorf("init: %d bytes, not the binary's %d", len(init.data), len(mustRead(t, o.Binary)))
	}
	for _, a := range o.Applets {
		f := files["bin/"+a]
		if f.Mode&cpio.S_IFMT != cpio.S_IFLNK || string(f.data) != "/init" {
			t.Errorf("bin/%s: mode %#o -> %q, want a symlink to /init", a, f.Mode, f.data)
		}
	}
	if c := files["dev/console"]; c.Mode != cpio.S_IFCHR|0o600 || c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console: mode %#o dev %d,%d, want char device 5,1", c.Mode, c.Rmajor, c.Rminor)
	}
	for _, d := range []string{"proc", "sys", "dev", "dev/pts", "tmp", "run", "etc", "root", "var/lib/bproc", "lib/modules/" + fakeKernel} {
		if files[d].Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("%s: mode %#o, want a directory", d, files[d].Mode)
		}
	}
	if m := files["tmp"].Mode; m&0o7777 != 0o1777 {
		t.Errorf("tmp mode = %#o, want 1777", m&0o7777)
	}

	for _, k := range []struct {
		name, src string
		perm      uint64
	}{
		{HostKeyPath, o.HostKeyPub, 0o644},
	} {
		f := files[strings.TrimPrefix(k.name, "/")]
		if f.Mode != cpio.S_IFREG|k.perm || !bytes.Equal(f.data, mustRead(t, k.src)) {
			t.Errorf("%s: mode %#o, %d bytes, want %#o and the %d bytes of %s", k.name, f.Mode, len(f.data), k.perm, len(mustRead(t, k.src)), k.src)
		}
	}

	modDir := "lib/modules/" + fakeKernel + "/"
	carried := []string{
		"kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko",
		"kernel/net/core/failover.ko", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/net/ethernet/intel/igb/igb.ko",
		"kernel/drivers/dca/dca.ko", "kernel/drivers/i2c/algos/i2c-algo-bit.ko.xz",
	}
	for _, m := range carried {
		if f, ok := files[modDir+m]; !ok || string(f.data) != "\x7fELF fake module "+m {
			t.Errorf("module %s missing or with the wrong content", m)
		}
	}
	for _, m := range []string{"kernel/fs/fuse/fuse.ko", "kernel/drivers/virtio/virtio_pci.ko"} {
		if _, ok := files[modDir+m]; ok {
			t.Errorf("module %s carried, want it left out (not asked for, or built in)", m)
		}
	}
	dep := lines(string(files[modDir+"modules.dep"].data))
	if len(dep) != len(carried) {
		t.Errorf("modules.dep has %d lines, want %d (one per carried module):\n%s", len(dep), len(carried), strings.Join(dep, "\n"))
	}
	if !slices.Contains(dep, "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko") {
		t.Errorf("modules.dep lacks net_failover's line as written by depmod:\n%s", strings.Join(dep, "\n"))
	}
	if _, ok := files[modDir+"modules.builtin"]; !ok {
		t.Errorf("modules.builtin missing")
	}
	wantOrder := []string{"virtio", "virtio_ring", "failover", "net_failover", "virtio_net", "i2c_algo_bit", "dca", "igb"}
	if got := lines(string(files["etc/bproc/modules"].data)); !slices.Equal(got, wantOrder) {
		t.Errorf("etc/bproc/modules = %q, want %q", got, wantOrder)
	}

	if got := string(files["etc/bproc/master"].data); got != "10.0.0.1:2223\n" || files["etc/bproc/master"].Mode != cpio.S_IFREG|0o644 {
		t.Errorf("etc/bproc/master = %q mode %#o, want the extra file, 0644", got, files["etc/bproc/master"].Mode)
	}

	// The kernel's unpacker creates no missing parents: every directory
	// must come before what it holds.
	seen := map[string]bool{}
	for _, p := range order {
		if d := path.Dir(p); d != "." && !seen[d] {
			t.Errorf("%s comes before its directory %s", p, d)
		}
		seen[p] = true
	}
}

func TestWriteIsReproducible(t *testing.T) {
	o := testOptions(t)
	o.Uncompressed = true
	a, b := writeImage(t, o), writeImage(t, o)
	if !bytes.Equal(a, b) {
		t.Errorf("two Writes of the same inputs differ (%d and %d bytes)", len(a), len(b))
	}
	if bytes.HasPrefix(a, []byte{0x1f, 0x8b}) || !bytes.HasPrefix(a, []byte("070701")) {
		t.Errorf("Uncompressed image starts with %q, want the newc magic 070701", a[:6])
	}
}

// TestDefaultBinary: with no Binary, /init is the running program.
func TestDefaultBinary(t *testing.T) {
	o := testOptions(t)
	o.Binary = ""
	o.Uncompressed = true
	files, _ := readImage(t, writeImage(t, o))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["init"].data, mustRead(t, self)) {
		t.Errorf("init is %d bytes, not the running binary's %d", len(files["init"].data), len(mustRead(t, self)))
	}
}

// TestNoPrivateKey: the image is served to anyone on the boot network, so
// it holds no private key at all, not even when the state directory still
// has the node_key of an older bproc: every file of the image, read back
// from the cpio, is free of private key material.
func TestNoPrivateKey(t *testing.T) {
	o := testOptions(t)
	state := filepath.Dir(o.HostKeyPub)
	if _, err := keys.LoadOrCreate(state); err != nil {
		t.Fatal(err)
	}
	// Made now: the image's /init is this test's binary, which holds
	// every literal of the test.
	oldKey := []byte(fmt.Sprintf("-----BEGIN OPENSSH PRIVATE KEY-----\n%x\n-----END OPENSSH PRIVATE KEY-----\n", time.Now().UnixNano()))
	os.WriteFile(filepath.Join(state, "node_key"), oldKey, 0o600)
	hostPriv := mustRead(t, strings.TrimSuffix(o.HostKeyPub, ".pub"))
	for _, compressed := range []bool{false, true} {
		o.Uncompressed = !compressed
		files, _ := readImage(t, writeImage(t, o))
		for name, f := range files {
			// The binary holds the words (x/crypto's PEM code), not a key.
			pem := name != "init" && bytes.Contains(f.data, []byte("PRIVATE KEY"))
			if pem || bytes.Contains(f.data, hostPriv) || bytes.Contains(f.data, oldKey) {
				t.Errorf("%s (compressed %v): carries a private key", name, compressed)
			}
			if strings.HasPrefix(name, "var/lib/bproc/") && name != strings.TrimPrefix(HostKeyPath, "/") {
				t.Errorf("%s: in the image beside the host key", name)
			}
		}
		if _, ok := files[strings.TrimPrefix(HostKeyPath, "/")]; !ok {
			t.Errorf("no %s in the image: nodes could not pin the master", HostKeyPath)
		}
	}
}

// TestSystemCpio extracts an image with GNU cpio: the archive is valid newc
// for other tools than ours, and it unpacks to what the node should see.
func TestSystemCpio(t *testing.T) {
	cpioBin, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("no cpio tool (apt-get install cpio)")
	}
	o := testOptions(t)
	o.ModulesDir = fakeModules(t)
	o.KernelVersion = fakeKernel
	o.Modules = []string{"virtio_net"}
	img := writeImage(t, o) // gzip: unpack it as the kernel would
	zr, err := gzip.NewReader(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("gzip.NewReader = %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip = %v", err)
	}

	dir := t.TempDir()
	cmd := exec.Command(cpioBin, "-idv", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("cpio -idv = %v\n%s", err, out.String())
	}

	if b := mustRead(t, filepath.Join(dir, "init")); !bytes.Equal(b, mustRead(t, o.Binary)) {
		t.Errorf("extracted init differs from the binary")
	}
	if fi, err := os.Stat(filepath.Join(dir, "init")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("extracted init: %v, %v; want mode 0755", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/bpsh")); err != nil || l != "/init" {
		t.Errorf("readlink bin/bpsh = %q, %v; want /init", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, HostKeyPath)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("extracted host key: %v, %v; want mode 0644", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lib/modules", fakeKernel, "kernel/drivers/net/virtio_net.ko")); err != nil {
		t.Errorf("extracted virtio_net.ko: %v", err)
	}
	if os.Geteuid() == 0 {
		// Only root may mknod; GNU cpio then makes the node as the
		// kernel will.
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, "dev/console"), &st); err != nil {
			t.Fatalf("lstat dev/console = %v", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 1 {
			t.Errorf("dev/console: mode %#o dev %d,%d, want char device 5,1", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
}

func TestBadInputs(t *testing.T) {
	mods := fakeModules(t)
	noDep := t.TempDir()
	if err := os.MkdirAll(filepath.Join(noDep, fakeKernel, "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	missingFile := fakeModules(t)
	if err := os.Remove(filepath.Join(missingFile, fakeKernel, "kernel/net/core/failover.ko")); err != nil {
		t.Fatal(err)
	}
	badDep := t.TempDir()
	if err := os.MkdirAll(filepath.Join(badDep, fakeKernel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badDep, fakeKernel, "modules.dep"), []byte("../../../etc/shadow:\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string // in the error
	}{
		{"missing binary", func(o *Options) { o.Binary = "/nonexistent/bproc" }, "/nonexistent/bproc"},
		{"unknown module", func(o *Options) { o.Modules = []string{"virtio_net", "e1000"} }, "module e1000: no such module"},
		{"missing modules.dep", func(o *Options) { o.ModulesDir = noDep }, "modules.dep"},
		{"missing kernel", func(o *Options) { o.KernelVersion = "9.9.9-none" }, "9.9.9-none"},
		{"no kernel version", func(o *Options) { o.KernelVersion = "" }, "no kernel version"},
		{"kernel version with slash", func(o *Options) { o.KernelVersion = "../x" }, `"../x"`},
		{"module file missing", func(o *Options) { o.ModulesDir = missingFile }, "failover.ko"},
		{"module path escapes", func(o *Options) { o.ModulesDir = badDep }, "../../../etc/shadow"},
		{"missing host key", func(o *Options) { o.HostKeyPub = "/nonexistent/host_key.pub" }, "/nonexistent/host_key.pub"},
		{"host key not a key", func(o *Options) { o.HostKeyPub = o.Binary }, "host key"},
		{"no host key", func(o *Options) { o.HostKeyPub = "" }, "host key"},
		{"applet with slash", func(o *Options) { o.Applets = []string{"../bpsh"} }, `applet "../bpsh"`},
		{"applet twice", func(o *Options) { o.Applets = []string{"bpsh", "bpsh"} }, "/bin/bpsh: already in the image"},
		{"relative extra file", func(o *Options) { o.Files = map[string][]byte{"etc/x": nil} }, `"etc/x"`},
		{"extra file over init", func(o *Options) { o.Files = map[string][]byte{"/init": nil} }, "/init: already"},
		{"extra file under init", func(o *Options) { o.Files = map[string][]byte{"/init/x": nil} }, "parent /init is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t)
			o.ModulesDir, o.KernelVersion, o.Modules = mods, fakeKernel, []string{"virtio_net"}
			tc.change(&o)
			_, err := Build(o)
			if err == nil {
				t.Fatalf("Build = nil error, want one naming %q", tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "initramfs: ") {
				t.Errorf("Build error = %q, want one line starting initramfs: and naming %q", msg, tc.want)
			}
			if ents, _ := os.ReadDir(o.CacheDir); len(ents) != 0 {
				t.Errorf("failed Build left %d files in the cache", len(ents))
			}
		})
	}
}
