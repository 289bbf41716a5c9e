package node

import (
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestAdmit: maxprocs counts each user's processes on the node apart;
// a refusal names the node, the user and the limit, and takes no place;
// a release gives one back.
func TestAdmit(t *testing.T) {
	s := testSlave(t)
	for i := 0; i < 2; i++ {
		if err := s.admit(1000, 2); err != nil {
			t.Fatalf("admit %d of 2: %v", i+1, err)
		}
	}
	err := s.admit(1000, 2)
	if err == nil {
		t.Fatal("a third process of a user with maxprocs 2 was admitted")
	}
	for _, want := range []string{"node 3", "user 1000", "2 processes", "maxprocs 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if err := s.admit(1001, 2); err != nil {
		t.Errorf("another user refused for the first one's processes: %v", err)
	}
	if err := s.admit(0, 2); err != nil {
		t.Errorf("root refused for the others' processes: %v", err)
	}
	s.release(1000)
	if err := s.admit(1000, 2); err != nil {
		t.Errorf("admit after a release: %v", err)
	}
	for _, uid := range []uint32{1000, 1000, 1001, 0} {
		s.release(uid)
	}
	if len(s.perUser) != 0 {
		t.Errorf("counts left after every release: %v", s.perUser)
	}
}

// TestAdmitDefault: a maxprocs of 0 (not set) is wire.DefaultMaxProcs.
func TestAdmitDefault(t *testing.T) {
	s := testSlave(t)
	for i := 0; i < wire.DefaultMaxProcs; i++ {
		if err := s.admit(7, 0); err != nil {
			t.Fatalf("admit %d of the default %d: %v", i+1, wire.DefaultMaxProcs, err)
		}
	}
	if err := s.admit(7, 0); err == nil {
		t.Errorf("admitted one more than the default maxprocs %d", wire.DefaultMaxProcs)
	}
}
