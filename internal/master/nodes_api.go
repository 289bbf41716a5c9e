package master

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// fromNode are the operations a process on a node may ask for (through
// its node's ChanAPI): questions about the cluster, moving itself to
// another node, and running processes, whose ghosts the master starts as
// the user the node saw. Changing nodes and rfork need the caller's
// process on the master (its ghost) or the master's own word on who it is.
// (A slice: static data, where a map would be built at every start of the
// binary, bpsh's too.)
var fromNode = []string{
	localapi.OpNodes,
	localapi.OpProcs,
	localapi.OpWatch,
	localapi.OpWhere,
	localapi.OpMove, // the node reads the process; see moveFromNode
	// The master starts the ghosts (api_noderun.go).
	localapi.OpRun,
	localapi.OpAttach,
	localapi.OpSignal, // as the node's user, as kill(2) would
}

// serveAPI answers the local API of a process on node n, whose node says
// who it is.
func (m *Master) serveAPI(n *node, nc ssh.NewChannel, log *slog.Logger) {
	var req wire.APIRequest
	if err := wire.Decode(wire.ChanAPI, nc.ExtraData(), &req); err != nil {
		nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	m.routines.Go(func() { ssh.DiscardRequests(reqs) })
	cred := localapi.Cred{PID: req.PID, UID: req.UID, GID: req.GID, Groups: req.Groups}
	c := &client{w: ch, cred: cred, node: n.num, log: log.With("uid", cred.UID, "node_pid", cred.PID)}
	// A channel has no read deadline: one that passes closes it.
	var timer *time.Timer
	var tmu sync.Mutex
	deadline := func(t time.Time) {
		tmu.Lock()
		defer tmu.Unlock()
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if !t.IsZero() {
			timer = time.AfterFunc(time.Until(t), func() { ch.Close() })
		}
	}
	defer deadline(time.Time{})
	m.serveFrames(c, m.requestReader(c, ch, deadline), ch)
}
