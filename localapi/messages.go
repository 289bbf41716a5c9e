package localapi

import "github.com/bproc/bproc/wire"

// Operations a client may ask for.
const (
	OpNodes  = "nodes"  // the node table
	OpProcs  = "procs"  // every remote process
	OpRun    = "run"    // start remote processes (then events follow on the connection)
	OpSignal = "signal" // signal a remote process by its ghost PID (bpsh relays SIGSTOP, which a ghost cannot catch)
)

// Request is every frame a client sends; Op says which fields matter.
type Request struct {
	Op     string  `json:"op"`
	Run    *Run    `json:"run,omitempty"`
	Signal *Signal `json:"signal,omitempty"`
}

// Run asks for one remote process per entry of Nodes (duplicates allowed:
// rank i runs on Nodes[i]).
type Run struct {
	Nodes []int    `json:"nodes"`
	Path  string   `json:"path"` // resolved by the caller in its own PATH
	Argv  []string `json:"argv"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`

	TTY        *wire.TTY `json:"tty,omitempty"`
	NoIO       bool      `json:"noio,omitempty"`
	StdinFile  string    `json:"stdin_file,omitempty"`
	StdoutFile string    `json:"stdout_file,omitempty"`
	StderrFile string    `json:"stderr_file,omitempty"`
}

// Signal asks the master to signal the remote process of ghost PID.
type Signal struct {
	PID    int `json:"pid"`
	Signal int `json:"signal"`
}

// Reply answers a Request. A non-empty Error means it failed as a whole.
type Reply struct {
	Error string       `json:"error,omitempty"`
	Nodes []NodeStatus `json:"nodes,omitempty"`
	Procs []Proc       `json:"procs,omitempty"`
	Ranks []Rank       `json:"ranks,omitempty"`
}

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
}

// Proc is one remote process.
type Proc struct {
	PID     int      `json:"pid"`      // the ghost's PID on the master
	NodePID int      `json:"node_pid"` // its PID on the node (equal unless the number was taken there)
	Node    int      `json:"node"`
	UID     uint32   `json:"uid"`
	Argv    []string `json:"argv"`
}

// Rank is the master's answer for one entry of Run.Nodes: a token to start
// its ghost with, or why the node cannot take it.
type Rank struct {
	Node  int    `json:"node"`
	Token string `json:"token,omitempty"`
	Error string `json:"error,omitempty"`
}

// Event is what the master sends on a run connection after the Reply, one
// per rank that had a token: how it ended, or why it never ran.
type Event struct {
	Rank    int             `json:"rank"`
	PID     int             `json:"pid"`
	Started bool            `json:"started,omitempty"` // it ran (Status is its own)
	Status  wire.ExitStatus `json:"status"`
	Error   string          `json:"error,omitempty"`   // why it did not run, or was cut off
	Warning string          `json:"warning,omitempty"` // non-fatal, e.g. cwd missing on the node
	Final   bool            `json:"final"`             // no more events for this rank
}
