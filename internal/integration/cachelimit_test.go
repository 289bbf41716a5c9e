package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheLimit: a node's cache of the master's files (config
// cachesize) keeps to its limit by dropping copies no one uses, and a
// file larger than the whole limit is still read whole: a copy in use is
// never dropped, so a full cache is no error and corrupts nothing.
func TestCacheLimit(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config")
	const limit = 24 << 20
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("cachesize %d\n", limit)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, "--config", conf)
	slave := c.nodePID(t, 0)
	dir := publicTempDir(t)
	sums := map[string]string{}
	for name, mb := range map[string]int{"a": 12, "b": 12, "c": 12, "huge": 40} {
		sums[name] = randomFile(t, filepath.Join(dir, name), mb)
	}
	cache := fmt.Sprintf("/proc/%d/root/run/bproc/cache/sha256", slave)
	used := func() (n int64) {
		ents, _ := os.ReadDir(cache)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	read := func(name string) {
		t.Helper()
		p := filepath.Join(dir, name)
		r := c.run("", "bpsh", "0", "sha256sum", p)
		if r.code != 0 || !strings.HasPrefix(r.stdout, sums[name]) {
			t.Fatalf("bpsh 0 sha256sum %s: exit %d %q %q, want %s", name, r.code, r.stdout, r.stderr, sums[name])
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		read(name)
		if u := used(); u > limit {
			t.Errorf("after reading %s node 0's cache holds %d bytes, over its limit of %d", name, u, limit)
		}
	}
	read("huge") // 40 MB through a 24 MB cache
	read("a")    // room made again: the huge copy, unused now, goes
	if u := used(); u > limit {
		t.Errorf("after a file over the limit and another read, node 0's cache holds %d bytes, over its limit of %d", u, limit)
	}
}
