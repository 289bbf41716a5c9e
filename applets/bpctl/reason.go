package bpctl

import (
	"fmt"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// attachReason gives --reason's text to the step before it, which must
// hold nodes in a state (-s error, -s unavailable): a reason says why a
// node is out of use, and nothing else has one.
func attachReason(steps []step, r step) error {
	if len(steps) == 0 {
		return fmt.Errorf("%s: goes after -s error or -s unavailable", r.flag)
	}
	last := &steps[len(steps)-1]
	if last.kind != "state" || (last.arg != localapi.StateError && last.arg != localapi.StateUnavailable) {
		return fmt.Errorf("%s: goes after -s error or -s unavailable, not after %s", r.flag, last.flag)
	}
	if last.reason != "" {
		return fmt.Errorf("%s: %s has a reason already", r.flag, last.flag)
	}
	if err := localapi.CheckReason(r.arg); err != nil {
		return fmt.Errorf("%s %q: %w", r.flag, r.arg, err)
	}
	last.reason = r.arg
	return nil
}
