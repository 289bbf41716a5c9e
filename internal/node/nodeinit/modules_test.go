package nodeinit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModulePaths(t *testing.T) {
	dir := t.TempDir()
	dep := filepath.Join(dir, "modules.dep")
	os.WriteFile(dep, []byte("kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n\nkernel/x/snd-hda.ko.xz:\n"), 0o644)
	got, err := modulePaths(dep)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"virtio_net": "kernel/drivers/net/virtio_net.ko", "failover": "kernel/net/core/failover.ko", "snd_hda": "kernel/x/snd-hda.ko.xz"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("modulePaths[%s] = %q, want %q", k, got[k], v)
		}
	}
	if err := LoadModules(filepath.Join(dir, "no-list"), dir); err != nil {
		t.Errorf("LoadModules without a list: %v", err)
	}
	list := filepath.Join(dir, "modules")
	os.WriteFile(list, []byte("no_such_module\n"), 0o644)
	if err := LoadModules(list, dir); err == nil {
		t.Errorf("LoadModules of a module not in modules.dep succeeded")
	}
}
