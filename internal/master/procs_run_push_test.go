package master

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/wire"
)

// sumOf is the sum the list gives path, or "".
func sumOf(files []wire.PushFile, path string) string {
	for _, f := range files {
		if f.Path == path {
			return f.Sum
		}
	}
	return ""
}

// TestPushCacheOncePerJob: a job's ranks share one push list, made once
// (a program changed after the first rank's list is still the first
// list's for the others), while ranks whose PATH, LD_LIBRARY_PATH or
// LD_PRELOAD differ get their own, and a rank's list filtered for a node
// with a view leaves the shared one whole.
func TestPushCacheOncePerJob(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	prog := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var hashes contentcache.Hashes
	cred := asuser.Cred{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	rank := func(env ...string) *wire.ProcStart {
		return &wire.ProcStart{Command: wire.Command{Path: prog, Argv: []string{"prog"}, Env: env}}
	}
	var c pushCache
	env := []string{"PATH=/usr/bin:/bin", "BPROC_RANK=0000000"}
	var wg sync.WaitGroup
	lists := make([][]wire.PushFile, 8)
	for i := range lists {
		wg.Go(func() {
			l, err := c.list(&hashes, cred, rank(env...))
			if err != nil {
				t.Errorf("rank %d: %v", i, err)
			}
			lists[i] = l
		})
	}
	wg.Wait()
	first := sumOf(lists[0], prog)
	if first == "" {
		t.Fatalf("the push list of %s does not hold it: %+v", prog, lists[0])
	}
	for i, l := range lists {
		if s := sumOf(l, prog); s != first {
			t.Errorf("rank %d: sum %q, want the job's one list's %q", i, s, first)
		}
	}

	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := c.list(&hashes, cred, rank("BPROC_RANK=0000009", "PATH=/usr/bin:/bin"))
	if err != nil || sumOf(again, prog) != first {
		t.Errorf("a later rank of the job: sum %q, %v; want the job's list, %q", sumOf(again, prog), err, first)
	}
	for _, steer := range []string{"PATH=/bin", "LD_LIBRARY_PATH=/nowhere", "LD_PRELOAD="} {
		own, err := c.list(&hashes, cred, rank("PATH=/usr/bin:/bin", steer))
		if steer == "PATH=/bin" {
			own, err = c.list(&hashes, cred, rank(steer))
		}
		if err != nil || sumOf(own, prog) == first || sumOf(own, prog) == "" {
			t.Errorf("a rank with %s: sum %q, %v; want a list of its own, of the changed program", steer, sumOf(own, prog), err)
		}
	}
	var nilCache *pushCache
	if l, err := nilCache.list(&hashes, cred, rank(env...)); err != nil || sumOf(l, prog) == first {
		t.Errorf("no cache: sum %q, %v; want a list made now", sumOf(l, prog), err)
	}

	// A node with a view gets the part of the list in its own
	// directories (the program is in /tmp, the node's own): a filtered
	// copy, not the shared list rearranged in place.
	c = pushCache{}
	shared, err := c.list(&hashes, cred, rank(env...))
	if err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(shared)
	own, err := nodePush(&hashes, cred, rank(env...), false, true, &c)
	if err != nil || len(own) == 0 || len(own) == len(shared) {
		t.Errorf("nodePush for a node with a view: %d of %d files, %v; want the program's part in /tmp", len(own), len(shared), err)
	}
	if !reflect.DeepEqual(shared, before) {
		t.Errorf("the shared list changed under a node's filter:\n%+v\nwas\n%+v", shared, before)
	}
}
