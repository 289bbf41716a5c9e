package bproc

import "github.com/bproc/bproc/internal/shared/localapi"

// BProc's errors, with its texts, which the master sends and users and
// scripts know. Test for them with errors.Is: the master's answers carry
// them, after what it was doing ("signal 7: Invalid process ID"), and so
// do a job's ranks ("rank 2 (node 5): Node is down").
var (
	ErrInvalidNode    error = localapi.ErrInvalidNode    // "Invalid node number"
	ErrNodeDown       error = localapi.ErrNodeDown       // "Node is down" (also: unavailable, error)
	ErrSameNode       error = localapi.ErrSameNode       // "Move to same node"
	ErrSlaveDied      error = localapi.ErrSlaveDied      // "Slave node died"
	ErrInvalidProcess error = localapi.ErrInvalidProcess // "Invalid process ID"
)
