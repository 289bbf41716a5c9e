package wire

// The whole process space: a process that a remote process forks on its
// node gets a ghost on the master, a child of its parent's ghost, before
// the fork completes (see internal/node/space.go and
// internal/master/procs_space.go).
const (
	// ReqFork (node -> master, global, wants a reply): a process of the
	// space forks; payload Fork. The reply carries ForkReply with the new
	// ghost's PID, which the node gives the child; a refusal means the
	// child goes on untracked (the parent has no ghost here), unless its
	// payload is ForkNoGhost or ForkLimit.
	ReqFork = "bproc-fork"
	// ChanAdopt is opened by the master once the ghost of ReqFork runs:
	// payload Adopt. On it the master sends ReqSignal and the node sends
	// ReqExit when the process has ended (or at once with SIGKILL when the
	// fork did not produce the child); the node closes it then.
	ChanAdopt = "bproc-adopt"
	// ReqForked (node -> master, global, wants a reply): the child of a
	// ReqFork runs under another PID than its ghost's (the number was
	// taken on the node first); payload Forked. The master maps the
	// ghost to it, as for a launched process (ReqStarted), before the
	// node answers the child's own forks.
	ReqForked = "bproc-forked"
)

// ForkNoGhost is the payload of a refused ReqFork whose ghost never came
// (killed or stopped on the master before its hello, or refused there):
// the node fails the fork (EAGAIN), so that no process runs without a
// ghost.
const ForkNoGhost = "no ghost"

// ForkLimit is the payload of a refused ReqFork whose user holds as many
// descendant ghosts as the master allows: the node fails the fork
// (EAGAIN), as the kernel does past RLIMIT_NPROC, so that a runaway fork
// loop is stopped rather than let run without ghosts.
const ForkLimit = "ghost limit"

// Fork is the payload of ReqFork.
type Fork struct {
	Parent int `json:"parent"` // the forking process's PID on the node
}

// ForkReply is the reply to ReqFork.
type ForkReply struct {
	PID int `json:"pid"` // the new ghost's PID, for the child
}

// Adopt is the payload of ChanAdopt.
type Adopt struct {
	PID int `json:"pid"` // the ghost's PID, as in ForkReply
}

// Forked is the payload of ReqForked.
type Forked struct {
	PID     int `json:"pid"`      // the ghost's PID, as in ForkReply
	NodePID int `json:"node_pid"` // the child's PID on the node
}
