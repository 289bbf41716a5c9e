package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestViewUpperSwappedCwd is issue 13's first finding, as it was found: an
// unprivileged user's process on a diskless node waits in its directory
// while the user moves the directory away on the master, makes a symlink
// of that name to the node's upper layer, and moves the directory back;
// the process then writes etc/ld.so.preload "in its directory". Nothing
// may land in the upper layer's /etc (every program's /etc on the node),
// nor in the node's own /run/bproc, and no ld.so.preload appears.
func TestViewUpperSwappedCwd(t *testing.T) {
	c := startCluster(t, 1, "--diskless")
	bin := userBinary(t)
	home := filepath.Join(publicTempDir(t), "u")
	d := filepath.Join(home, "d")
	for _, p := range []string{home, d} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 65534, 65534)
	}
	flag := filepath.Join(filepath.Dir(home), "flag")
	script := fmt.Sprintf(`cd %s || exit 9; while [ ! -e %s ]; do sleep 0.1; done; mkdir etc; echo /evil.so > etc/ld.so.preload; echo wrote=$?`, d, flag)
	waiting := exec.Command(bin, "bpsh", "0", "sh", "-c", script)
	waiting.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	waiting.Dir = "/"
	waiting.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}}}
	var out strings.Builder
	waiting.Stdout, waiting.Stderr = &out, &out
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- waiting.Wait() }()
	t.Cleanup(func() {
		waiting.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	time.Sleep(2 * time.Second) // in its directory on node 0

	if err := os.Rename(d, d+".old"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past the view's entry timeout
	if r := c.as(t, bin, 65534, "bpsh", "0", "ln", "-s", "/run/bproc/upper", d); r.code != 0 {
		t.Fatalf("ln -s /run/bproc/upper %s on node 0: exit %d %q", d, r.code, r.stderr)
	}
	if err := os.Rename(d+".old", d); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("the waiting process did not end: %q", out.String())
	}
	t.Logf("the waiting process: %q", out.String())

	nodeRoot := filepath.Join("/proc", strconv.Itoa(c.nodePID(t, 0)), "root")
	for _, p := range []string{"run/bproc/upper/etc", "run/bproc/etc"} {
		if _, err := os.Lstat(filepath.Join(nodeRoot, p)); err == nil {
			t.Errorf("node 0 has /%s after the user's write through a swapped directory", p)
		}
	}
	if r := c.run("", "bpsh", "0", "ls", "/etc/ld.so.preload"); r.code == 0 {
		t.Errorf("node 0 shows /etc/ld.so.preload: %q", r.stdout)
	}
}
