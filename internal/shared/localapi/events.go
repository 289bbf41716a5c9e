package localapi

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bproc/bproc/internal/shared/wire"
)

// OpEvents turns the connection into a stream of ClusterEvents (bpstat
// --events): after an empty Reply, the master sends one frame per event
// until the client hangs up. Root sees every process; a user their own.
const OpEvents = "events"

// The kinds of ClusterEvent.
const (
	EventNode  = "node"  // a node changed state
	EventStart = "start" // a remote process started
	EventExit  = "exit"  // a remote process ended
	// EventDropped ends a stream whose reader fell behind: the master
	// keeps a bounded queue per subscriber, not the events it missed.
	// Its Seq is the last event the reader was sent.
	EventDropped = "dropped"
)

// ClusterEvent is one frame of an OpEvents stream. Seq counts the
// master's events from 1; a subscriber that is not root sees gaps where
// other users' processes were.
type ClusterEvent struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Node int       `json:"node"`
	// EventNode: the state left and the state entered, and an
	// administrator's reason for a held state.
	From   string `json:"from,omitempty"`
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	// EventStart and EventExit: the ghost's PID and the process's user.
	PID int    `json:"pid,omitempty"`
	UID uint32 `json:"uid,omitempty"`
	// EventExit: how it ended (Started false: it never ran), or why it
	// was cut off.
	Status  *wire.ExitStatus `json:"status,omitempty"`
	Started bool             `json:"started,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// MaxReason bounds a held state's reason: a line of bpstat -l, a label
// of the metrics.
const MaxReason = 200

// CheckReason rejects a reason that would not read as one line: empty,
// too long, not UTF-8, or holding control characters.
func CheckReason(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("reason: empty")
	case len(s) > MaxReason:
		return fmt.Errorf("reason: %d bytes, more than %d", len(s), MaxReason)
	case !utf8.ValidString(s):
		return fmt.Errorf("reason: not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("reason: control character %U", r)
		}
	}
	return nil
}
