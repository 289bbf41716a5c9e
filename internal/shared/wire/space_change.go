package wire

// ReqChange (node -> master, global, no reply): a process of the space
// has exec'd, or changed its process group or session; payload Change.
// The master makes the process's ghost show the same (see
// internal/node/space_mirror.go and internal/master/procs_space_change.go).
const ReqChange = "bproc-change"

// Change is the payload of ReqChange: what the process is now, not what
// it did, so that a message sent twice changes nothing.
type Change struct {
	PID int `json:"pid"` // on the node
	// Argv is the process's argv after an exec (nil: unchanged).
	Argv []string `json:"argv,omitempty"`
	// Pgid and Sid are its process group and session on the node (0:
	// not reported).
	Pgid int `json:"pgid,omitempty"`
	Sid  int `json:"sid,omitempty"`
}
