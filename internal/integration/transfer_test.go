package integration

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTransferCut: the node's fetcher of the master's files (nodeview) is
// killed in the middle of a 256 MB file. The program reading it fails
// cleanly (an error, not a hang), nodeview comes back, the cache holds no
// half copy, and the next read gets the file whole.
func TestTransferCut(t *testing.T) {
	c := startCluster(t, 1)
	slave := c.nodePID(t, 0)
	dir := publicTempDir(t)
	big := filepath.Join(dir, "big")
	want := randomFile(t, big, 256)

	cache := fmt.Sprintf("/proc/%d/root/run/bproc/cache/sha256", slave)
	parts := func() []string { p, _ := filepath.Glob(filepath.Join(cache, "*.part")); return p }
	reader := c.startBpsh(t, "0", "sh", "-c", "cat "+big+" >/dev/null; echo rc=$?")
	waitWithin(t, "a copy of the file arriving on node 0", 30*time.Second, func() bool {
		for _, p := range parts() {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 16<<20 {
				return true
			}
		}
		return false
	})
	views := inNamespaceOf(slave, pgrepPrefix("nodeview"))
	if len(views) != 1 {
		t.Fatalf("nodeview processes in node 0: %v, want one", views)
	}
	if err := syscall.Kill(views[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- reader.Wait() }()
	select {
	case err := <-done:
		t.Logf("the reader ended: %v; stderr %q", err, stderrOf(reader))
		if !strings.Contains(stderrOf(reader), "cat: "+big+": ") {
			t.Errorf("cat of a file whose transfer was cut said nothing: stderr %q", stderrOf(reader))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the reader still runs 60 s after its node's nodeview was killed")
	}
	c.waitLog(t, regexp.MustCompile(`nodeview ended; starting it again`))
	waitWithin(t, "nodeview back on node 0", 30*time.Second, func() bool {
		v := inNamespaceOf(slave, pgrepPrefix("nodeview"))
		return len(v) == 1 && v[0] != views[0]
	})
	r := c.run("", "bpsh", "0", "sha256sum", big)
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("bpsh 0 sha256sum after the cut: exit %d %q %q, want %s", r.code, r.stdout, r.stderr, want)
	}
	if p := parts(); len(p) != 0 {
		t.Errorf("half copies left in node 0's cache: %v", p)
	}
	// The copy the cut left was not kept under the file's sum: the only
	// copy of that sum is whole.
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() == 256<<20 && !strings.HasPrefix(want, e.Name()[:min(len(e.Name()), 64)]) {
			t.Errorf("a 256 MB copy named %s in node 0's cache, not the file's sum %s", e.Name(), want)
		}
	}
}

// pgrepPrefix is the processes whose argv[0] ends in name (as bproc's
// applets run: /proc/self/exe as nodeview, or a path).
func pgrepPrefix(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if argv0 == name || strings.HasSuffix(argv0, "/"+name) {
			out = append(out, pid)
		}
	}
	return out
}

// randomFile writes mb megabytes of random content to path (readable by
// all) and returns its sha256 in hex.
func randomFile(t *testing.T, path string, mb int) string {
	t.Helper()
	block := make([]byte, 1<<20)
	rand.Read(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	for i := 0; i < mb; i++ {
		block[0] = byte(i) // no two blocks alike
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
		h.Write(block)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestStartWhileViewRestarts: a process started while its node's nodeview
// is starting again waits for the view instead of finding an empty root
// (it failed with ENOENT for its program).
func TestStartWhileViewRestarts(t *testing.T) {
	c := startCluster(t, 1)
	slave := c.nodePID(t, 0)
	for i := range 3 {
		views := inNamespaceOf(slave, pgrepPrefix("nodeview"))
		if len(views) != 1 {
			t.Fatalf("nodeview processes in node 0: %v, want one", views)
		}
		if err := syscall.Kill(views[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitWithin(t, "nodeview gone", 10*time.Second, func() bool { return procState(views[0]) == "" || procState(views[0]) == "Z" })
		if r := c.run("", "bpsh", "0", "/bin/echo", "started"); r.code != 0 || r.stdout != "started\n" {
			t.Fatalf("round %d: bpsh 0 echo right after nodeview died: exit %d %q %q", i, r.code, r.stdout, r.stderr)
		}
		waitWithin(t, "nodeview back on node 0", 30*time.Second, func() bool {
			v := inNamespaceOf(slave, pgrepPrefix("nodeview"))
			return len(v) == 1 && v[0] != views[0]
		})
	}
}
