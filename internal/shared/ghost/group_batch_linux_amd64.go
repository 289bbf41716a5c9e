package ghost

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// batchWindow bounds the requests StartMany has in flight to a template:
// each holds a reply socket here and up to four descriptors in flight,
// which the kernel counts against the caller's RLIMIT_NOFILE.
const batchWindow = 64

// StartMany starts a ghost for each toks[i], with files[i] as its fds 0,
// 1 and 2, as Start would one by one, and returns their PIDs; pids[i] is
// 0 where errs[i] says why that one did not start. It sends the template
// the requests of a window before it reads their answers, so that the
// template clones siblings back to back instead of waiting, for each,
// until this process has been scheduled to read the last answer and send
// the next request: a launch of thousands of ranks on two cores spent
// most of its time in that ping-pong.
//
// A request the template does not act on (it exited, or refused) is
// started again as Start does: by a new template.
func (g *Group) StartMany(toks []Token, files [][3]*os.File) (pids []int, errs []error) {
	pids, errs = make([]int, len(toks)), make([]error, len(toks))
	fail := func(err error) ([]int, []error) {
		for i := range errs {
			errs[i] = err
		}
		return pids, errs
	}
	if len(files) != len(toks) {
		return fail(fmt.Errorf("ghost: start: %d tokens but %d sets of files", len(toks), len(files)))
	}
	if err := g.check(); err != nil {
		return fail(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fail(ErrClosed)
	}
	for next := 0; next < len(toks); {
		if g.ctl == nil || g.pre != nil {
			// A prestarted template takes its token before any request.
			pids[next], errs[next] = g.startLocked(toks[next], files[next])
			next++
			continue
		}
		first := next
		var replies []int
		for next < len(toks) && len(replies) < batchWindow {
			r, err := g.send(toks[next], files[next])
			if err != nil {
				break // the template is gone: the rest go to a new one
			}
			replies = append(replies, r)
			next++
		}
		var again []int
		for k, r := range replies {
			pid, err := g.await(r)
			unix.Close(r)
			if err != nil {
				again = append(again, first+k)
				continue
			}
			pids[first+k] = pid
		}
		if len(again) > 0 || next < len(toks) && len(replies) < batchWindow {
			// Not acted on: as in Start, a new template takes over.
			g.ctl.Close()
			g.ctl = nil
		}
		for _, i := range again {
			pids[i], errs[i] = g.startLocked(toks[i], files[i])
		}
	}
	return pids, errs
}
