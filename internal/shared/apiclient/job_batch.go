package apiclient

import (
	"fmt"
	"os"

	"github.com/bproc/bproc/internal/shared/ghost"
)

// StartGhosts starts ranks ks, as StartGhost does each, with files[i] as
// the stdin, stdout and stderr of rank ks[i]'s ghost, asking the job's
// ghost group for them all at once (ghost.Group.StartMany): a launch of
// thousands of ranks does not wait on the group's template once a rank.
// pids[i] is 0 where errs[i] says why rank ks[i] did not start.
func (j *Job) StartGhosts(ks []int, files [][3]*os.File) (pids []int, errs []error) {
	pids, errs = make([]int, len(ks)), make([]error, len(ks))
	if len(files) != len(ks) {
		for i := range errs {
			errs[i] = fmt.Errorf("start ghosts: %d ranks but %d sets of files", len(ks), len(files))
		}
		return pids, errs
	}
	var toks []ghost.Token
	var fs [][3]*os.File
	var at []int // index in ks of each entry of toks
	for i, k := range ks {
		tok, err := j.rankToken(k)
		if err != nil {
			errs[i] = err
			continue
		}
		toks = append(toks, tok)
		fs = append(fs, files[i])
		at = append(at, i)
	}
	if len(toks) == 0 {
		return pids, errs
	}
	got, gotErrs := j.ghosts.StartMany(toks, fs)
	for n, i := range at {
		pids[i], errs[i] = got[n], gotErrs[n]
	}
	return pids, errs
}
