package master

import (
	"slices"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestLostGhosts: a user learns of their own lost ghosts only (root of
// all), and a request past MaxLost is refused.
func TestLostGhosts(t *testing.T) {
	var l lostGhosts
	l.record(100, 1000)
	l.record(101, 1001)
	got, err := l.query(localapi.Cred{UID: 1000}, []int{100, 101, 102})
	if err != nil || !slices.Equal(got, []int{100}) {
		t.Errorf("user 1000 asks: %v, %v; want [100]", got, err)
	}
	got, _ = l.query(localapi.Cred{UID: 0}, []int{100, 101})
	if !slices.Equal(got, []int{100, 101}) {
		t.Errorf("root asks: %v, want [100 101]", got)
	}
	if _, err := l.query(localapi.Cred{UID: 0}, make([]int, localapi.MaxLost+1)); err == nil {
		t.Errorf("%d PIDs: no error", localapi.MaxLost+1)
	}
	for i := range maxLostKept + 10 {
		l.record(1000+i, 5)
	}
	if len(l.byPID) > maxLostKept {
		t.Errorf("%d lost ghosts kept, at most %d", len(l.byPID), maxLostKept)
	}
}
