//go:build !linux

package nodeview

import (
	"errors"
	"fmt"
)

// Mount needs Linux: the view is a FUSE file system of a node.
func Mount(dir string, opts Options) (*View, error) {
	return nil, fmt.Errorf("nodeview: mount on %s: %w", dir, errors.ErrUnsupported)
}

// Unmount does nothing: there is no view to unmount.
func (v *View) Unmount() error { return nil }
