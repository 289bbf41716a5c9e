package master

import (
	"fmt"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// hold records the state an administrator puts n in (up releases it),
// with the reason given, since now unless n was held in that state
// already: a new reason for the same state keeps its since.
func (n *node) hold(state, reason string, now time.Time) {
	if state == localapi.StateUp {
		n.held, n.reason, n.since = "", "", time.Time{}
		return
	}
	if n.held != state || n.since.IsZero() {
		n.since = now
	}
	n.held, n.reason = state, reason
}

// heldSince is n's since for the table; nil while it is not held.
func (n *node) heldSince() *time.Time {
	if n.held == "" || n.since.IsZero() {
		return nil
	}
	t := n.since
	return &t
}

// checkReason says whether req's reason fits its change: it goes with
// a held state only.
func checkReason(req *localapi.Ctl) error {
	if req.Reason == "" {
		return nil
	}
	if req.State != localapi.StateError && req.State != localapi.StateUnavailable {
		return fmt.Errorf("ctl: a reason goes with state error or unavailable only")
	}
	if err := localapi.CheckReason(req.Reason); err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	return nil
}
