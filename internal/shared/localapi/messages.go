package localapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Operations a client may ask for.
const (
	OpNodes  = "nodes"  // the node table
	OpProcs  = "procs"  // every remote process
	OpRun    = "run"    // start remote processes (then events follow on the connection)
	OpSignal = "signal" // signal a remote process by its ghost PID (bpsh relays SIGSTOP, which a ghost cannot catch)
	OpCtl    = "ctl"    // change nodes: state, action, owner, group, mode (bpctl)
	// OpMove moves the calling process to a node (bproc_move, and the
	// child of bproc_rfork). The reply carries a ghost token and, as
	// SCM_RIGHTS, the ghost stub, which the caller then executes: it
	// becomes the ghost of its moved copy.
	OpMove = "move"
	// OpVRfork moves copies of the calling process to nodes at once
	// (bproc_vrfork): the caller has forked a child per node, which waits
	// to become the ghost of its copy; the master reads the caller once,
	// and each node rebuilds it with its child's PID. The reply's Ranks
	// carry a token per child (or its error), with the ghost stub.
	OpVRfork = "vrfork"
	// OpWhere says which node the caller runs on (-1: the master):
	// bproc_currnode, true also after the caller moved.
	OpWhere = "where"
	OpWatch = "watch" // wait for the next change of the node table (bpstat -U)

	// OpAttach (from a process on a node only) joins the connection to
	// the stdio of a rank whose ghost the master started for it (Rank.PID):
	// after the reply, the connection carries the rank's bytes raw.
	OpAttach = "attach"
	// OpAddNode adds a node for a MAC address to the configuration file
	// and reloads it (bpctl --add-node; root only).
	OpAddNode = "add-node"
	// OpNodeToken mints a one-time boot token for a node that is started
	// by hand (bpctl --node-token N; root only): the reply's Token, which
	// bpslave takes in $BPROC_TOKEN.
	OpNodeToken = "node-token"
	// OpLost asks which of the caller's ghosts (Request.PIDs) this master
	// ended as lost with their node ("Slave node died") while no client
	// of theirs was connected: their bpsh's master was another process
	// (restarted). The reply's Lost lists them.
	OpLost = "lost"
)

// MaxLost bounds the PIDs of one OpLost.
const MaxLost = 4096

// Node states, as BProc named them. (The actions, reboot, halt and pwroff,
// are the wire's: wire.ActionReboot and so on.)
const (
	StateDown        = "down"
	StateBoot        = "boot"
	StateUp          = "up"
	StateError       = "error"
	StateUnavailable = "unavailable"
)

// Request is every frame a client sends; Op says which fields matter.
type Request struct {
	Op     string  `json:"op"`
	Run    *Run    `json:"run,omitempty"`
	Signal *Signal `json:"signal,omitempty"`
	Ctl    *Ctl    `json:"ctl,omitempty"`
	MAC    string  `json:"mac,omitempty"`  // OpAddNode
	Node   *int    `json:"node,omitempty"` // OpMove: where to; OpNodeToken: for which node
	VRfork *VRfork `json:"vrfork,omitempty"`
	Attach *Attach `json:"attach,omitempty"`
	PIDs   []int   `json:"pids,omitempty"` // OpLost: ghost PIDs
}

// Attach is OpAttach's request: a rank's token and which of its streams.
// StreamInOut carries stdin to the rank and its stdout back; StreamErr
// its stderr.
type Attach struct {
	Token  string `json:"token"`
	Stream int    `json:"stream"`
}

// Attach's streams.
const (
	StreamInOut = 0
	StreamErr   = 2
)

// VRfork is OpVRfork's request: a node for each child of the caller.
type VRfork struct {
	Nodes []int `json:"nodes"`
	PIDs  []int `json:"pids"`
}

// MaxVRfork bounds the copies of one OpVRfork.
const MaxVRfork = 4096

// Ctl is one step of bpctl: a change applied to each of Nodes. Exactly one
// of State, Action, Mode, UID or GID is set.
type Ctl struct {
	Nodes  []int   `json:"nodes"`
	State  string  `json:"state,omitempty"`  // up, error, unavailable
	Action string  `json:"action,omitempty"` // reboot, halt, pwroff
	Mode   *uint32 `json:"mode,omitempty"`   // only the x bits: 0111
	UID    *uint32 `json:"uid,omitempty"`
	GID    *uint32 `json:"gid,omitempty"`
	// Reason goes with State error or unavailable: why the node is held
	// (bpctl --reason), shown by bpstat -l and the metrics.
	Reason string `json:"reason,omitempty"`
}

// NodeError is a node's failure in a Ctl; nodes not listed succeeded.
type NodeError struct {
	Node  int    `json:"node"`
	Error string `json:"error"`
	Code  Code   `json:"code,omitempty"` // Error's number, if it has one
}

// Run asks for one remote process per entry of Nodes (duplicates allowed:
// rank i runs on Nodes[i]), each running Command, which the master passes
// on to the node in its wire.ProcStart as it is.
type Run struct {
	Nodes []int `json:"nodes"`
	wire.Command

	// Stub: the caller becomes the ghost of the one rank itself
	// (bproc_rexec, bproc_execmove): the reply carries the ghost stub as
	// SCM_RIGHTS for it to execute, and the run outlives the connection.
	Stub bool `json:"stub,omitempty"`
	// Detach lets the processes outlive the run's connection. Without
	// it they end (SIGKILL) when it closes with them still running: their
	// caller died (bpsh killed by SIGKILL), and they end with it as an
	// ssh session's processes end with its client. A Stub run outlives
	// it anyway.
	Detach bool `json:"detach,omitempty"`

	// RankEnv, when given, holds an entry per element of Nodes: the
	// variables ("NAME=value") that rank's process gets besides the
	// command's Env, for what a launcher tells each rank apart (bpsh
	// --pmi: PMI_RANK, PMI_ID, the PMI server's address as that node
	// reaches it).
	RankEnv [][]string `json:"rank_env,omitempty"`
}

// CheckRankEnv rejects a RankEnv that does not fit the request.
func (r *Run) CheckRankEnv() error {
	if r.RankEnv == nil {
		return nil
	}
	if len(r.RankEnv) != len(r.Nodes) {
		return fmt.Errorf("rank_env has %d entries for %d ranks", len(r.RankEnv), len(r.Nodes))
	}
	for i, env := range r.RankEnv {
		for _, e := range env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
				return fmt.Errorf("rank_env of rank %d: %q is not NAME=value", i, e)
			}
		}
	}
	return nil
}

// Signal asks the master to signal the remote process of ghost PID.
type Signal struct {
	PID    int `json:"pid"`
	Signal int `json:"signal"`
}

// Reply answers a Request. A non-empty Error means it failed as a whole.
type Reply struct {
	Error string       `json:"error,omitempty"`
	Code  Code         `json:"code,omitempty"` // Error's number, if it has one
	Nodes []NodeStatus `json:"nodes,omitempty"`
	Procs []Proc       `json:"procs,omitempty"`
	Ranks []Rank       `json:"ranks,omitempty"`
	// Failed lists the nodes a Ctl could not change, and why.
	Failed []NodeError `json:"failed,omitempty"`
	// Added is the number of the node OpAddNode added.
	Added *int `json:"added,omitempty"`
	// Token is OpMove's ghost token, for BPROC_GHOST_TOKEN, or
	// OpNodeToken's boot token.
	Token string `json:"token,omitempty"`
	// Where is OpWhere's answer.
	Where *int `json:"where,omitempty"`
	// Lost is OpLost's answer.
	Lost []int `json:"lost,omitempty"`
}

// MoveReturn is what the moved copy of a process sees its interrupted
// OpMove read return (rax): a length no read of a reply could have.
const MoveReturn = 0x4250524f

// VRforkReturn + i is what the copy of OpVRfork's caller for child i sees
// its read return.
const VRforkReturn = 0x42560000

// NodeStatus is one row of the node table.
type NodeStatus struct {
	Num    int    `json:"num"`
	State  string `json:"state"`
	Addr   string `json:"addr,omitempty"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Mode   uint32 `json:"mode"`
	Procs  int    `json:"procs"`
	Local  bool   `json:"local,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// Stats is what the node last reported (with its answer to a ping);
	// nil while it is down.
	Stats *wire.NodeStats `json:"stats,omitempty"`
	// FilesSent is how many bytes of the master's files the node has been
	// sent (its view of them, pushed programs) since the master started.
	FilesSent int64 `json:"files_sent,omitempty"`
	// Reason and Since: why and since when an administrator holds the
	// node in error or unavailable (bpctl -s STATE --reason).
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}

// Proc is one remote process.
type Proc struct {
	PID     int      `json:"pid"`      // the ghost's PID on the master
	NodePID int      `json:"node_pid"` // its PID on the node (equal unless the number was taken there)
	PPID    int      `json:"ppid"`     // its ghost's parent here: a descendant's is its parent's ghost
	Node    int      `json:"node"`
	UID     uint32   `json:"uid"`
	Argv    []string `json:"argv"`
}

// Rank is the master's answer for one entry of Run.Nodes: a token to start
// its ghost with, or why the node cannot take it.
type Rank struct {
	Node  int    `json:"node"`
	Token string `json:"token,omitempty"`
	// PID is set when the master started the rank's ghost itself: the
	// caller is a process on a node, where no ghost of the master's can
	// be its child. Its stdio is then reached with OpAttach.
	PID   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	Code  Code   `json:"code,omitempty"` // Error's number, if it has one
}

// Event is what the master sends on a run connection after the Reply, one
// per rank that had a token: how it ended, or why it never ran.
type Event struct {
	Rank    int             `json:"rank"`
	PID     int             `json:"pid"`
	Started bool            `json:"started,omitempty"` // it ran (Status is its own)
	Status  wire.ExitStatus `json:"status"`
	Error   string          `json:"error,omitempty"`   // why it did not run, or was cut off
	Code    Code            `json:"code,omitempty"`    // Error's number, if it has one
	Warning string          `json:"warning,omitempty"` // non-fatal, e.g. cwd missing on the node
	Final   bool            `json:"final"`             // no more events for this rank
}
