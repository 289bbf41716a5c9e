package apiclient

import (
	"os"
	"strings"
	"testing"
)

// TestStartGhostsErrors: each rank that cannot start gets its own error,
// as StartGhost would give it, and no PID; a batch whose files do not
// match its ranks starts nothing.
func TestStartGhostsErrors(t *testing.T) {
	job, _ := runOneRank(t, 0)
	pids, errs := job.StartGhosts([]int{5, 0, -1}, make([][3]*os.File, 3))
	for i, want := range []string{"the job has ranks 0 to 0", "token", "the job has ranks 0 to 0"} {
		if pids[i] != 0 || errs[i] == nil || !strings.Contains(errs[i].Error(), want) {
			t.Errorf("rank %d: pid %d, %v; want no PID and an error saying %q", i, pids[i], errs[i], want)
		}
	}
	pids, errs = job.StartGhosts([]int{0, 0}, make([][3]*os.File, 1))
	for i := range pids {
		if pids[i] != 0 || errs[i] == nil || !strings.Contains(errs[i].Error(), "2 ranks but 1 sets of files") {
			t.Errorf("mismatched files, rank %d: pid %d, %v", i, pids[i], errs[i])
		}
	}
}
