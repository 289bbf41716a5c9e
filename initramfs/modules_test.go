package initramfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUnknownModuleIsErrUnknownModule(t *testing.T) {
	_, err := resolveModules(fakeModules(t), fakeKernel, []string{"e1000"}, nil)
	if !errors.Is(err, ErrUnknownModule) {
		t.Errorf("resolveModules(e1000) = %v, want ErrUnknownModule", err)
	}
	// Optional modules the kernel lacks are no error.
	ms, err := resolveModules(fakeModules(t), fakeKernel, nil, []string{"e1000", "fuse"})
	if err != nil || len(ms.files) != 1 || ms.files[0].rel != "kernel/fs/fuse/fuse.ko" {
		t.Errorf("resolveModules(optional e1000, fuse) = %v, %v; want fuse alone", ms, err)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"virtio_net":                            "virtio_net",
		"virtio-net":                            "virtio_net",
		"kernel/drivers/net/virtio_net.ko":      "virtio_net",
		"kernel/drivers/i2c/i2c-algo-bit.ko.xz": "i2c_algo_bit",
		"kernel/fs/fuse/fuse.ko.zst":            "fuse",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInstalledKernels(t *testing.T) {
	dir := fakeModules(t)
	if err := os.MkdirAll(filepath.Join(dir, "5.10.0-old"), 0o755); err != nil { // no modules.dep: a leftover
		t.Fatal(err)
	}
	got, err := InstalledKernels(dir)
	if err != nil || !slices.Equal(got, []string{fakeKernel}) {
		t.Errorf("InstalledKernels = %q, %v; want [%s]", got, err, fakeKernel)
	}
	if got, err := InstalledKernels(filepath.Join(dir, "none")); err != nil || got != nil {
		t.Errorf("InstalledKernels(missing dir) = %q, %v; want none, no error", got, err)
	}
}

// TestRealKernelModules builds an image with the NIC modules of a kernel
// installed on this machine ($BPROC_MODULES_DIR, else /lib/modules) that has
// virtio_net as a module, as the QEMU nodes need.
func TestRealKernelModules(t *testing.T) {
	dir := os.Getenv("BPROC_MODULES_DIR")
	if dir == "" {
		dir = DefaultModulesDir
	}
	vers, err := InstalledKernels(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ver string
	for _, v := range vers {
		dep, err := os.ReadFile(filepath.Join(dir, v, "modules.dep"))
		if err == nil && strings.Contains(string(dep), "/virtio_net.ko") {
			ver = v
			break
		}
	}
	if ver == "" {
		t.Skipf("no kernel in %s with virtio_net as a module (kernels: %q)", dir, vers)
	}
	if cfg, err := os.ReadFile(filepath.Join(dir, ver, "../../../boot/config-"+ver)); err == nil {
		for _, l := range strings.Split(string(cfg), "\n") {
			if strings.HasPrefix(l, "CONFIG_MODULE_COMPRESS") || strings.HasPrefix(l, "CONFIG_MODULE_DECOMPRESS") {
				t.Logf("kernel %s: %s", ver, l)
			}
		}
	}

	o := testOptions(t)
	o.ModulesDir, o.KernelVersion = dir, ver
	o.Modules = []string{"virtio_pci", "virtio_net"}
	o.OptionalModules = DefaultNICModules
	img := writeImage(t, o)
	files, _ := readImage(t, img)
	modDir := "lib/modules/" + ver + "/"

	order := lines(string(files["etc/bproc/modules"].data))
	t.Logf("kernel %s: %d-byte image; modules in load order: %s", ver, len(img), strings.Join(order, " "))
	deps, err := readModulesDep(filepath.Join(dir, ver, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	builtin, _, err := readBuiltin(filepath.Join(dir, ver, "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"virtio_pci", "virtio_net", "net_failover", "failover", "virtio", "virtio_ring"} {
		if !slices.Contains(order, want) && !builtin[want] {
			t.Errorf("%s neither in the load order nor built in", want)
		}
	}
	// Every module comes after what it needs, and its file and its line
	// of modules.dep are in the image.
	imgDep := lines(string(files[modDir+"modules.dep"].data))
	for i, name := range order {
		l := deps[name]
		if _, ok := files[modDir+l.rel]; !ok {
			t.Errorf("module %s: %s not in the image", name, l.rel)
		}
		if !slices.Contains(imgDep, l.text) {
			t.Errorf("module %s: line %q not in the image's modules.dep", name, l.text)
		}
		for _, d := range l.deps {
			if j := slices.Index(order, moduleName(d)); j < 0 || j > i {
				t.Errorf("module %s loads before its dependency %s", name, moduleName(d))
			}
		}
	}
}
