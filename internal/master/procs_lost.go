package master

import (
	"fmt"
	"sync"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// A process whose ghost came back to a restarted master has no client:
// its bpsh's connection hung up with the old master, and bpsh waits on
// its ghosts with wait(). When such a process is lost with its node, the
// ghost dies by SIGKILL as BProc's did, and bpsh would see only that.
// The master notes the ghost's PID before the ghost dies, and bpsh, seeing
// a ghost killed with no word from its master, asks the master then
// running (OpLost) to say "Slave node died" as it does for a node that
// dies under a connected bpsh.

// lostKeep is how long a lost ghost is remembered: bpsh asks as soon as
// it has reaped its ghosts.
const lostKeep = 10 * time.Minute

// maxLostKept bounds the ghosts remembered at once.
const maxLostKept = 1 << 16

// lostGhosts are the ghosts ended as lost with no client told, by PID.
type lostGhosts struct {
	mu    sync.Mutex
	byPID map[int]lostGhost
	// pruneAt is the size at which the old are looked for: twice what
	// was left at the last look, so a record costs O(1) on average.
	pruneAt int
}

type lostGhost struct {
	uid uint32
	at  time.Time
}

// record notes ghost pid of user uid, ended as lost.
func (l *lostGhosts) record(pid int, uid uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.byPID == nil {
		l.byPID = make(map[int]lostGhost)
	}
	if len(l.byPID) >= l.pruneAt {
		for p, g := range l.byPID {
			if now.Sub(g.at) > lostKeep {
				delete(l.byPID, p)
			}
		}
		l.pruneAt = max(1024, 2*len(l.byPID))
	}
	if len(l.byPID) < maxLostKept {
		l.byPID[pid] = lostGhost{uid, now}
	}
}

// query answers OpLost: those of pids that are the caller's (root's: any)
// lost ghosts.
func (l *lostGhosts) query(cred localapi.Cred, pids []int) ([]int, error) {
	if len(pids) > localapi.MaxLost {
		return nil, fmt.Errorf("lost: %d PIDs, at most %d", len(pids), localapi.MaxLost)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, pid := range pids {
		g, ok := l.byPID[pid]
		if ok && time.Since(g.at) <= lostKeep && (cred.UID == 0 || cred.UID == g.uid) {
			out = append(out, pid)
		}
	}
	return out, nil
}
