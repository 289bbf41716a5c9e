package master

import (
	"errors"
	"os"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestSameIdentity: a process is its user's only where all four of its
// uids and gids are the caller's.
func TestSameIdentity(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if err := sameIdentity(os.Getpid(), uid, gid); err != nil {
		t.Errorf("sameIdentity(self, %d, %d) = %v", uid, gid, err)
	}
	for _, c := range [][2]uint32{{uid + 1, gid}, {uid, gid + 1}} {
		if err := sameIdentity(os.Getpid(), c[0], c[1]); !errors.Is(err, localapi.ErrNotPermitted) {
			t.Errorf("sameIdentity(self, %d, %d) = %v, want %v", c[0], c[1], err, localapi.ErrNotPermitted)
		}
	}
	if err := sameIdentity(1<<30, uid, gid); err == nil || errors.Is(err, localapi.ErrNotPermitted) {
		t.Errorf("sameIdentity(no process) = %v, want a failed move", err)
	}
}
