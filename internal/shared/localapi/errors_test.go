package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{ErrInvalidNode, 300},
		{fmt.Errorf("signal 7: %w", ErrInvalidProcess), 304},
		{ErrUnavailable, CodeNodeDown},
		{fmt.Errorf("signal 7: %w", syscall.EPERM), Code(syscall.EPERM)},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, Code(syscall.EACCES)},
		// Errnos the table does not have, and plain texts, have no code.
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, Code(syscall.ENOENT)},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EIO}, 0},
		{errors.New("Node is down"), 0},
	} {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// The texts are BProc's, byte for byte: users and scripts know them.
func TestErrorTexts(t *testing.T) {
	want := map[*Error]string{
		ErrInvalidNode: "Invalid node number", ErrNodeDown: "Node is down",
		ErrSameNode: "Move to same node", ErrSlaveDied: "Slave node died",
		ErrInvalidProcess: "Invalid process ID", ErrUnavailable: "Node is unavailable",
		ErrPermission: "Permission denied", ErrNotPermitted: "Operation not permitted",
	}
	for e, text := range want {
		if e.Error() != text {
			t.Errorf("%d: %q, want %q", e.Code, e.Error(), text)
		}
	}
	if got := fmt.Sprintf("%v", fmt.Errorf("%w %q", ErrUnknownOp, "x")); got != `unknown operation "x"` {
		t.Errorf("unknown operation: %s", got)
	}
}

// A failure carries its code beside the text; a success, and a failure
// without a code, send no "code" (clients older than codes see no change).
func TestReplyCode(t *testing.T) {
	var r Reply
	r.Fail(fmt.Errorf("node 3: %w", ErrNodeDown))
	b, _ := json.Marshal(r)
	if string(b) != `{"error":"node 3: Node is down","code":301}` {
		t.Errorf("reply: %s", b)
	}
	r = Reply{}
	r.Fail(errors.New("ctl: bad request"))
	if b, _ := json.Marshal(r); string(b) != `{"error":"ctl: bad request"}` {
		t.Errorf("reply without a code: %s", b)
	}
	var rk Rank
	rk.Refuse(ErrPermission)
	if b, _ := json.Marshal(rk); string(b) != `{"node":0,"error":"Permission denied","code":13}` {
		t.Errorf("rank: %s", b)
	}
	if b, _ := json.Marshal(Failure(2, ErrInvalidNode)); string(b) != `{"node":2,"error":"Invalid node number","code":300}` {
		t.Errorf("node error: %s", b)
	}
}
