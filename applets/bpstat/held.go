package bpstat

import (
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// heldColumn ends bpstat -l's line of a node an administrator holds in
// error or unavailable: since when, and why (bpctl --reason).
func heldColumn(n localapi.NodeStatus) string {
	s := ""
	if n.Since != nil {
		s += "  since " + n.Since.Local().Format(time.DateTime)
	}
	if n.Reason != "" {
		s += "  " + n.Reason
	}
	return s
}
