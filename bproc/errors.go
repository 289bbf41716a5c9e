package bproc

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// BProc's errors, with its texts, which the master sends and users and
// scripts know. Test for them with errors.Is: the master's answers carry
// them, after what it was doing ("signal 7: Invalid process ID").
var (
	ErrInvalidNode    = bprocError("Invalid node number")
	ErrNodeDown       = bprocError("Node is down")
	ErrSameNode       = bprocError("Move to same node")
	ErrSlaveDied      = bprocError("Slave node died")
	ErrInvalidProcess = bprocError("Invalid process ID")
)

// bprocError is one of BProc's errors: its text is all there is to it.
type bprocError string

func (e bprocError) Error() string { return string(e) }

// meanings are what the master's texts stand for; libbproc's errors.c maps
// the same texts to the same errno values.
var meanings = []struct {
	text string
	err  error
}{
	{"Invalid node number", ErrInvalidNode},
	{"Node is down", ErrNodeDown},
	{"Move to same node", ErrSameNode},
	{"Slave node died", ErrSlaveDied},
	{"Invalid process ID", ErrInvalidProcess},
	// Not BProc's: Scyld's state that turns users away. BProc had one
	// answer for a node a process cannot go to.
	{"Node is unavailable", ErrNodeDown},
	{"Permission denied", syscall.EACCES},
	{"Operation not permitted", syscall.EPERM},
	// Remote fork and move where they are not ported (vmadump.ErrNotPorted),
	// or a master older than the caller.
	{"function not implemented", syscall.ENOSYS},
}

// masterError is an error text of the master's, kept as it is (bpctl and
// bpsh print it), that errors.Is matches against what it means.
type masterError struct{ text string }

func (e *masterError) Error() string { return e.text }

func (e *masterError) Is(target error) bool {
	// Go prints system errors in lower case; the master's own are BProc's.
	lower := strings.ToLower(e.text)
	for _, m := range meanings {
		if strings.Contains(lower, strings.ToLower(m.text)) {
			return m.err == target || isErrno(m.err, target)
		}
	}
	return false
}

// isErrno lets a system error match what it matches itself, such as
// fs.ErrPermission for EACCES.
func isErrno(err, target error) bool {
	errno, ok := err.(syscall.Errno)
	return ok && errno.Is(target)
}

// FailureError is the error of a node that a Ctl could not change:
// "node 3: Node is down", which errors.Is finds to be ErrNodeDown.
func FailureError(f localapi.NodeError) error {
	return fmt.Errorf("node %d: %w", f.Node, &masterError{f.Error})
}
