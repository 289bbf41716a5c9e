package node

import (
	"slices"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestViewOwnDirs: the master's list of what a node with a view has of
// its own (wire.ViewOwnDirs, which decides that node_up.d cannot be
// there) is what the node mounts over the view.
func TestViewOwnDirs(t *testing.T) {
	var mounted []string
	for _, m := range nodeMounts {
		mounted = append(mounted, m.path)
	}
	if !slices.Equal(mounted, wire.ViewOwnDirs) {
		t.Errorf("the node mounts %q of its own over the view; wire.ViewOwnDirs says %q", mounted, wire.ViewOwnDirs)
	}
}
