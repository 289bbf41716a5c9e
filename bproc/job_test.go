package bproc

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestJobRankRange: a rank the job does not have is an error, not a
// panic (StartGhost(5) on a one-rank job indexed past its ranks).
func TestJobRankRange(t *testing.T) {
	j := &Job{statuses: []Status{{Done: true, Ran: true}}, pidfds: []int{-1}, done: []chan struct{}{make(chan struct{})}}
	close(j.done[0])
	for _, i := range []int{5, 1, -1} {
		if _, err := j.WaitRank(t.Context(), i); err == nil || !strings.Contains(err.Error(), "ranks 0 to 0") {
			t.Errorf("WaitRank(%d) = %v", i, err)
		}
		if err := j.Signal(t.Context(), i, syscall.SIGTERM); err == nil || !strings.Contains(err.Error(), "ranks 0 to 0") {
			t.Errorf("Signal(%d) = %v", i, err)
		}
	}
	if s, err := j.WaitRank(t.Context(), 0); err != nil || !s.Success() {
		t.Errorf("WaitRank(0) = %+v, %v", s, err)
	}
	if err := j.Signal(t.Context(), 0, syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal(0) of a reaped rank = %v, want os.ErrProcessDone", err)
	}
}
