package bpsh

import (
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
)

// sayLost says "Slave node died" for the ranks whose ghosts died by
// SIGKILL with no last word from a master: bpsh's master hung up (it was
// killed or restarted), and a next one ended them as lost with their
// node. That master, the one now on the socket, says which (OpLost);
// with none there, nothing is said.
func (r *runner) sayLost() {
	byPID := map[int]*rank{}
	var pids []int
	for _, rk := range r.ranks {
		if rk.node == nodeset.Master || rk.final || !rk.reaped || rk.pid == 0 {
			continue
		}
		if rk.ws.Signaled() && rk.ws.Signal() == unix.SIGKILL {
			byPID[rk.pid] = rk
			pids = append(pids, rk.pid)
		}
	}
	if len(pids) == 0 {
		return
	}
	c, err := apiclient.Dial(r.client.Socket)
	if err != nil {
		return
	}
	defer c.Close()
	lost, err := c.Lost(pids)
	if err != nil {
		return // a master from before OpLost
	}
	for _, pid := range lost {
		if rk := byPID[pid]; rk != nil && !rk.final {
			rk.errText, rk.final = localapi.ErrSlaveDied.Error(), true
			r.rankError(rk.node, rk.errText)
		}
	}
}
