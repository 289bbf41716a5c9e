package node

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMasterLocked: a namespace node sees a master as running while a
// write lock is held on its lock file (by another open file description,
// as the master's is), and as gone once it is dropped; testing takes
// nothing.
func TestMasterLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.lock")
	master, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	node, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if masterLocked(node) {
		t.Errorf("no lock held: masterLocked says a master runs")
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(master.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatalf("take the lock: %v", err)
	}
	if !masterLocked(node) {
		t.Errorf("lock held: masterLocked says no master runs")
	}
	// Testing took nothing: the holder drops it, another takes it.
	master.Close()
	if masterLocked(node) {
		t.Errorf("lock dropped: masterLocked says a master runs")
	}
	next, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if err := unix.FcntlFlock(next.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Errorf("a next master cannot take the lock after the node tested it: %v", err)
	}
}
