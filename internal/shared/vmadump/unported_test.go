//go:build !(linux && amd64)

package vmadump

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestUnportedRefuses: where moving is not ported, each entry point says
// so by name of the platform, and touches no process.
func TestUnportedRefuses(t *testing.T) {
	if !strings.Contains(ErrNotPorted.Error(), "remote fork is not ported to") {
		t.Errorf("ErrNotPorted = %q", ErrNotPorted)
	}
	if _, _, err := Dump(os.Getpid()); !errors.Is(err, ErrNotPorted) {
		t.Errorf("Dump: %v", err)
	}
	if _, _, err := DumpWhenIn(os.Getpid(), 47, 0, nil); !errors.Is(err, ErrNotPorted) {
		t.Errorf("DumpWhenIn: %v", err)
	}
	if _, err := Restore(&Image{}, Attr{}); !errors.Is(err, ErrNotPorted) {
		t.Errorf("Restore: %v", err)
	}
}
