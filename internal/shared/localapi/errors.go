package localapi

import (
	"errors"
	"syscall"
)

// Code is an error of the master's by number, sent beside its text
// ("code" in Reply, Rank, Event and NodeError) so that clients need not
// read the text: BProc's own numbers (libbproc's BE_* in bproc.h, from 300
// on) or the errno a C program gets (EACCES ...). 0 is none: a text only.
type Code int

// BProc's error numbers, as libbproc/bproc.h defines them.
const (
	CodeInvalidNode    Code = 300 // BE_INVALIDNODE
	CodeNodeDown       Code = 301 // BE_NODEDOWN
	CodeSameNode       Code = 302 // BE_SAMENODE
	CodeSlaveDied      Code = 303 // BE_SLAVEDIED
	CodeInvalidProcess Code = 304 // BE_INVALIDPROCESS
)

// Error is one of the master's errors with a code. Its text is what
// BProc said, byte for byte: users and scripts know it.
type Error struct {
	Code Code
	Text string
}

func (e *Error) Error() string { return e.Text }

// The master's errors with a code. libbproc/errors.c repeats the texts in
// C; a test holds the two equal.
var (
	ErrInvalidNode    = &Error{CodeInvalidNode, "Invalid node number"}
	ErrNodeDown       = &Error{CodeNodeDown, "Node is down"}
	ErrSameNode       = &Error{CodeSameNode, "Move to same node"}
	ErrSlaveDied      = &Error{CodeSlaveDied, "Slave node died"}
	ErrInvalidProcess = &Error{CodeInvalidProcess, "Invalid process ID"}
	// Not BProc's: Scyld's state that turns users away. BProc had one
	// answer for a node a process cannot go to.
	ErrUnavailable = &Error{CodeNodeDown, "Node is unavailable"}
	ErrPermission  = &Error{Code(syscall.EACCES), "Permission denied"}
	// A node whose CPU lacks what the process's C library chose (the
	// node's text, which the master passes on).
	ErrExecFormat   = &Error{Code(syscall.ENOEXEC), "Exec format error"}
	ErrNotPermitted = &Error{Code(syscall.EPERM), "Operation not permitted"}
	// An operation the master does not know: a client newer than it.
	ErrUnknownOp = &Error{Code(syscall.ENOSYS), "unknown operation"}
	// Remote fork and move where they are not ported (vmadump.ErrNotPorted).
	ErrNotPorted = &Error{Code(syscall.ENOSYS), "function not implemented"}
	// A file a moved process maps that changed on the master since: the
	// node cannot be given what the process runs.
	ErrReplaced = &Error{Code(syscall.ESTALE), "was replaced since the process mapped it"}
	// What a node or the master could not find, in their own words; last,
	// as the most general.
	ErrNoEntry = &Error{Code(syscall.ENOENT), "no such file or directory"}
)

// ErrMoveFailed begins the text of a move the nodes could not carry out;
// what went wrong follows. It has no number of its own (BProc had none).
const ErrMoveFailed = "Move failed"

// Errors is every error with a code, in the order a client that has only
// a text (from a master older than codes) looks for them in it.
var Errors = []*Error{
	ErrInvalidNode, ErrNodeDown, ErrSameNode, ErrSlaveDied, ErrInvalidProcess,
	ErrUnavailable, ErrPermission, ErrExecFormat, ErrNotPermitted, ErrUnknownOp, ErrNotPorted,
	ErrReplaced, ErrNoEntry,
}

// CodeOf is the code of err for a reply: that of the Error it wraps, or
// of the system error it wraps when Errors has that errno; else 0.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range Errors {
			if e.Code == Code(errno) {
				return e.Code
			}
		}
	}
	return 0
}

// Fail makes r a failure: err's text and its code.
func (r *Reply) Fail(err error) {
	r.Error, r.Code = err.Error(), CodeOf(err)
}

// Failure is why node num failed a Ctl.
func Failure(num int, err error) NodeError {
	return NodeError{Node: num, Error: err.Error(), Code: CodeOf(err)}
}

// Refuse says in r why its node gets no process.
func (r *Rank) Refuse(err error) {
	r.Error, r.Code = err.Error(), CodeOf(err)
}
