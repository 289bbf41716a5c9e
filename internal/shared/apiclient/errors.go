package apiclient

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// meaning is the error code stands for, or nil: BProc's numbers (package
// bproc exports these values as its ErrInvalidNode ...), else errno values.
// A switch, not a map: nothing for the binary to build as it starts.
func meaning(code localapi.Code) error {
	switch code {
	case localapi.CodeInvalidNode:
		return localapi.ErrInvalidNode
	case localapi.CodeNodeDown:
		return localapi.ErrNodeDown
	case localapi.CodeSameNode:
		return localapi.ErrSameNode
	case localapi.CodeSlaveDied:
		return localapi.ErrSlaveDied
	case localapi.CodeInvalidProcess:
		return localapi.ErrInvalidProcess
	}
	if code > 0 && code < localapi.CodeInvalidNode {
		return syscall.Errno(code)
	}
	return nil
}

// masterError is an error of the master's, its text kept as it is (bpctl
// and bpsh print it), that errors.Is matches against what its code means.
type masterError struct {
	text string
	code localapi.Code
}

// NewError is the error of the master's text and code.
func NewError(text string, code localapi.Code) error { return &masterError{text, code} }

func (e *masterError) Error() string { return e.text }

func (e *masterError) Is(target error) bool {
	code := e.code
	if code == 0 {
		code = codeOfText(e.text) // a master older than codes
	}
	m := meaning(code)
	return m != nil && (m == target || isErrno(m, target))
}

// codeOfText is the code of the first of the master's errors whose text
// is in text. Go prints system errors in lower case; the master's own are
// BProc's.
func codeOfText(text string) localapi.Code {
	lower := strings.ToLower(text)
	for _, e := range localapi.Errors {
		if strings.Contains(lower, strings.ToLower(e.Text)) {
			return e.Code
		}
	}
	return 0
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
	return fmt.Errorf("node %d: %w", f.Node, &masterError{f.Error, f.Code})
}

// RankError is why the master gave rank r no token ("Invalid node
// number", which errors.Is finds to be ErrInvalidNode), or nil.
func RankError(r localapi.Rank) error {
	if r.Error == "" {
		return nil
	}
	return &masterError{r.Error, r.Code}
}

// EventError is why a rank did not run or was cut off ("Slave node
// died", which errors.Is finds to be ErrSlaveDied), or nil.
func EventError(ev localapi.Event) error {
	if ev.Error == "" {
		return nil
	}
	return &masterError{ev.Error, ev.Code}
}
