package bpsh

import (
	"os"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// ghostChunk is how many ranks' ghosts are asked for at once: enough that
// the ghost group's template clones them back to back, few enough that
// the ranks' pipes waiting for their ghosts stay a few hundred fds.
const ghostChunk = 256

// ghostBatch gathers ranks whose ghosts are to start, and starts them a
// chunk at a time (apiclient.Job.StartGhosts), recording each in byPID.
type ghostBatch struct {
	r     *runner
	job   *apiclient.Job
	byPID map[int]*rank

	ks         []int
	ranks      []*rank
	files      [][3]*os.File
	closeAfter [][]*os.File
}

func (r *runner) ghostBatch(job *apiclient.Job, byPID map[int]*rank) *ghostBatch {
	return &ghostBatch{r: r, job: job, byPID: byPID}
}

// add queues job rank k (bpsh's rank rk) with its ghost's stdio; the
// files in closeAfter are closed once the ghost has them.
func (b *ghostBatch) add(k int, rk *rank, files [3]*os.File, closeAfter []*os.File) {
	b.ks = append(b.ks, k)
	b.ranks = append(b.ranks, rk)
	b.files = append(b.files, files)
	b.closeAfter = append(b.closeAfter, closeAfter)
	if len(b.ks) >= ghostChunk {
		b.flush()
	}
}

// flush starts the ghosts queued.
func (b *ghostBatch) flush() {
	if len(b.ks) == 0 {
		return
	}
	pids, errs := b.job.StartGhosts(b.ks, b.files)
	for i, rk := range b.ranks {
		closeAll(b.closeAfter[i])
		if err := errs[i]; err != nil {
			rk.errText, rk.final = err.Error(), true
			b.r.rankError(rk.node, err.Error())
			continue
		}
		rk.pid = pids[i]
		b.byPID[pids[i]] = rk
	}
	b.ks, b.ranks, b.files, b.closeAfter = b.ks[:0], b.ranks[:0], b.files[:0], b.closeAfter[:0]
}
