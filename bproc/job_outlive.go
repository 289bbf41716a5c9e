package bproc

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// A master killed or restarted hangs up on the Job, but not on its
// ranks: their ghosts wait for a next master on the same socket for the
// grace time, which takes their processes back and ends each ghost with
// its process's status, as bpsh sees it (applets/bpsh/lost.go). So the
// Job follows its ranks on through their ghosts, and asks the master then
// on the socket which ghosts killed by SIGKILL it ended as lost with
// their node (localapi.OpLost): those say ErrSlaveDied.

// outlive follows the ranks still running after the master hung up,
// each to its ghost's end, and finishes them with what the ghosts and
// the next master say.
func (j *Job) outlive() {
	type end struct {
		i  int
		ws unix.WaitStatus
		ok bool
	}
	ends := make(chan end)
	n := 0
	for i := range j.statuses {
		j.mu.Lock()
		running := !j.statuses[i].Done && j.pidfds[i] >= 0
		j.mu.Unlock()
		if !running {
			continue
		}
		n++
		go func() {
			ws, ok := j.reapStatus(i)
			ends <- end{i, ws, ok}
		}()
	}
	var killed []end
	for ; n > 0; n-- {
		var e end
		select {
		case e = <-ends:
		case <-j.let:
			// Detached and closed: the ghosts left go on being reaped
			// here (not by follow: one reaper a ghost), their ranks
			// not followed.
			left := n
			go func() {
				for ; left > 0; left-- {
					<-ends
				}
			}()
			for i := range j.statuses {
				j.finish(i, Status{Err: errJobClosed})
			}
			return
		}
		if !e.ok {
			continue
		}
		if e.ws.Signaled() && e.ws.Signal() == unix.SIGKILL {
			killed = append(killed, e)
			continue
		}
		j.finish(e.i, ghostStatus(e.ws))
	}
	var pids []int
	for _, e := range killed {
		j.mu.Lock()
		pids = append(pids, j.statuses[e.i].PID)
		j.mu.Unlock()
	}
	lost, asked := j.lost(pids)
	hungUp := fmt.Errorf("the master hung up: %w", ErrSlaveDied)
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	for _, e := range killed {
		j.mu.Lock()
		pid := j.statuses[e.i].PID
		j.mu.Unlock()
		switch {
		case lost[pid]:
			j.finish(e.i, Status{Err: ErrSlaveDied})
		case closed:
			j.finish(e.i, Status{Err: errJobClosed})
		case asked:
			j.finish(e.i, ghostStatus(e.ws))
		default:
			j.finish(e.i, Status{Err: hungUp})
		}
	}
	// Any rank left had no ghost to follow: a no-op for the rest.
	for i := range j.statuses {
		j.finish(i, Status{Err: hungUp})
	}
}

// ghostStatus is a rank's status from how its ghost ended: a ghost ends
// as its process did.
func ghostStatus(ws unix.WaitStatus) Status {
	s := Status{Ran: true, ExitCode: ws.ExitStatus()}
	if ws.Signaled() {
		s.ExitCode, s.Signal, s.CoreDumped = 0, ws.Signal(), ws.CoreDump()
	}
	return s
}

// lost asks the master now on the socket which of ghosts pids it ended
// as lost with their node. asked: a master answered.
func (j *Job) lost(pids []int) (map[int]bool, bool) {
	if len(pids) == 0 {
		return nil, false
	}
	c, err := apiclient.Dial(j.socket)
	if err != nil {
		return nil, false
	}
	defer c.Close()
	got, err := c.Lost(pids)
	if err != nil {
		return nil, false // no master, or one from before OpLost
	}
	lost := make(map[int]bool, len(got))
	for _, pid := range got {
		lost[pid] = true
	}
	return lost, true
}
