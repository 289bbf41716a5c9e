package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// tmpfsSize is the size of the file system at p.
func tmpfsSize(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

// TestTmpSize: a node's tmpfs have the config's tmpsize; a write larger
// than that fails with ENOSPC (No space left on device), in /tmp, in
// /dev/shm and in the view's upper layer (the node's /run), and the node
// stays up. Without tmpsize, all local nodes' tmpfs together promise at
// most half the machine's memory. Issue 13, finding 8.
func TestTmpSize(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(conf, []byte("tmpsize 8M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, "--diskless", "--config", conf)
	root := fmt.Sprintf("/proc/%d/root", c.nodePID(t, 0))
	for _, p := range []string{"/tmp", "/dev/shm", "/run"} {
		if got := tmpfsSize(t, root+p); got != 8<<20 {
			t.Errorf("node 0's %s: %d bytes, want 8 MiB", p, got)
		}
	}
	dir := publicTempDir(t)
	for _, p := range []string{"/tmp/big", "/dev/shm/big", filepath.Join(dir, "big")} {
		r := c.run("", "bpsh", "0", "dd", "if=/dev/zero", "of="+p, "bs=1M", "count=16")
		if r.code == 0 || !strings.Contains(r.stderr, "No space left on device") {
			t.Errorf("16 MiB to %s on node 0: exit %d %q, want No space left on device", p, r.code, r.stderr)
		}
		c.run("", "bpsh", "0", "rm", "-f", p)
	}
	if r := c.run("", "bpsh", "0", "cat", "/proc/1/comm"); r.code != 0 || r.stdout != "bproc\n" {
		t.Errorf("node 0 after the writes: exit %d %q %q, want its bpslave still PID 1", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(c.log.String(), "tmpfs quotas are not available"); n > 1 {
		t.Errorf("the missing tmpfs quotas logged %d times, want at most once", n)
	}
	c.stop()

	const nodes = 3
	c = startCluster(t, nodes, "--diskless")
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	size := tmpfsSize(t, fmt.Sprintf("/proc/%d/root/tmp", c.nodePID(t, 0)))
	if promised := size * 5 * nodes; promised > int64(total)/2+nodes*5*4096 {
		t.Errorf("3 local nodes' tmpfs of %d bytes each promise %d bytes, more than half of %d", size, promised, total)
	}
}
