package wire

import "time"

// What protocol 2 adds so that a node's processes outlive its connection
// to the master (see Protocol).
const (
	// ChanResume (master -> node): take back a process the node kept
	// through a lost connection (NodeHello.Kept); payload Resume. The
	// channel goes on as the process's ChanProc channel did.
	ChanResume = "bproc-resume"
	// ReqAck (master -> node, on a process channel): the master has
	// written out this much of a stream; payload Ack. The node keeps
	// what is not acknowledged, to send again on a resume.
	ReqAck = "bproc-ack"
	// ReqStdinEOF (master -> node, on a process channel): the ghost's
	// stdin has ended; the channel's EOF follows. An EOF without it is a
	// lost connection, which leaves the process's stdin open.
	ReqStdinEOF = "bproc-stdin-eof"
	// ReqStdinAck (node -> master, on a process channel; protocol 3):
	// the node has written this much of the ghost's stdin into the
	// process's; payload StdinAck. Sent first on each channel (where a
	// resume's stdin goes on from), then every so often: the master
	// keeps what is not acknowledged, to send again on a resume.
	ReqStdinAck = "bproc-stdin-ack"
)

// StdinAck is the payload of ReqStdinAck.
type StdinAck struct {
	Offset int64 `json:"offset"`
}

// DefaultGrace is how long a node keeps its processes without a master
// (the config's nodegrace).
const DefaultGrace = 10 * time.Minute

// Resume is the payload of ChanResume.
type Resume struct {
	PID int `json:"pid"` // the ghost's
	// Out are the bytes of stdout and stderr the master has: the node
	// sends the rest again.
	Out [2]int64 `json:"out"`
}

// Ack is the payload of ReqAck.
type Ack struct {
	Stream int   `json:"stream"` // 1 stdout, 2 stderr
	Offset int64 `json:"offset"` // bytes of it written out
}
