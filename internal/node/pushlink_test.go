package node

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestMakeLinkConcurrent: the ranks of one launch start on a node at
// once, and each pushes the same links (/lib64 and the like): every one
// of them must find the link made. Two makeLinks shared one temporary
// name, so one removed or renamed away the other's ("push /lib64: no
// such file or directory").
func TestMakeLinkConcurrent(t *testing.T) {
	dir, root := pushRoot(t)
	const ranks, rounds = 16, 30
	for round := range rounds {
		os.Remove(filepath.Join(dir, "lib64"))
		var wg sync.WaitGroup
		errs := make(chan error, ranks)
		for range ranks {
			wg.Go(func() {
				if err := makeLink(root, wire.PushFile{Path: "/lib64", Kind: "link", Target: "usr/lib64"}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: makeLink of one link by %d ranks at once: %v", round, ranks, err)
		}
		if got, err := os.Readlink(filepath.Join(dir, "lib64")); err != nil || got != "usr/lib64" {
			t.Fatalf("round %d: link points to %q (%v)", round, got, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the root holds %v, want the link alone", names)
	}
}
