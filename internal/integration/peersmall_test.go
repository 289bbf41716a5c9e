package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPeerCopiesSmall: a small file that many nodes read at once leaves
// the master about once too (it went to each node from the master when
// only files of 1 MiB and more went through other nodes).
func TestPeerCopiesSmall(t *testing.T) {
	c := startCluster(t, 4, "--diskless")
	dir := publicTempDir(t)
	small := filepath.Join(dir, "small.txt")
	data := strings.Repeat("a small file many nodes read at once\n", 1000) // 37 kB
	if err := os.WriteFile(small, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// wc and its libraries first.
	c.runIn("/", "bpsh", "0-3", "wc", "-c", "/etc/hostname")
	before := filesSent(t, c)
	r := c.runIn("/", "bpsh", "-p", "0-3", "wc", "-c", small)
	if r.code != 0 {
		t.Fatalf("bpsh 0-3 wc: exit %d %q", r.code, r.stderr)
	}
	for n := 0; n < 4; n++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("%d: %d %s", n, len(data), small)) {
			t.Errorf("node %d did not read the whole file:\n%s", n, r.stdout)
		}
	}
	sent := filesSent(t, c) - before
	t.Logf("the master sent %d bytes for a %d-byte file read by 4 nodes", sent, len(data))
	if sent > int64(len(data))*3/2 {
		t.Errorf("the master sent %d bytes for a %d-byte file on 4 nodes; want about the file once", sent, len(data))
	}
}
