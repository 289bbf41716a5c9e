package asuser

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bproc/bproc/internal/shared/procfs"
)

func TestPermissionsAreTheUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root only\n"), 0o600)
	nobody := Cred{UID: 65534, GID: 65534, Groups: []uint32{65534}}

	err := Do(nobody, func() error { _, err := os.ReadFile(secret); return err })
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("nobody reading a root-only file: %v, want permission denied", err)
	}
	w, err := NewWorker(nobody)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 3; i++ {
		if err := w.Do(func() error { _, err := os.ReadFile(secret); return err }); !errors.Is(err, os.ErrPermission) {
			t.Errorf("worker as nobody, call %d: %v", i, err)
		}
	}
	if err := w.Do(func() error { _, err := os.ReadFile("/etc/hostname"); return err }); err != nil {
		t.Errorf("worker as nobody reading a public file: %v", err)
	}
	// The rest of the process is still root.
	if _, err := os.ReadFile(secret); err != nil {
		t.Errorf("root after the worker ran: %v", err)
	}
	w.Close()
	if err := w.Do(func() error { return nil }); err == nil {
		t.Errorf("Do on a closed worker succeeded")
	}
}

// TestMainThreadKeepsRoot: however many calls ran as another user, the
// process's main thread, which /proc/PID/status and the kernel's checks
// against the process see, is still root's.
func TestMainThreadKeepsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			Do(Cred{UID: 65534, GID: 65534}, func() error { return nil })
		})
	}
	wg.Wait()
	st, err := procfs.ReadStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.UID != [4]uint32{} {
		t.Errorf("after 200 calls as nobody the main thread's uids are %v", st.UID)
	}
}
