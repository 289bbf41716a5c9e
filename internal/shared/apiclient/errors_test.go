package apiclient

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// A reply's code decides what an error is, whatever its text says; the
// text is kept as the master sent it.
func TestMasterErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		text string
		code localapi.Code
		want error
	}{
		{"node 3 went away", localapi.CodeSlaveDied, localapi.ErrSlaveDied},
		{"move: no such node", localapi.CodeInvalidNode, localapi.ErrInvalidNode},
		{"Node is down", localapi.CodeSameNode, localapi.ErrSameNode},
		{"add-node: root only", localapi.ErrPermission.Code, fs.ErrPermission},
		{"exec failed", localapi.ErrExecFormat.Code, syscall.ENOEXEC},
	} {
		c := dialFake(t, map[string]localapi.Reply{localapi.OpNodes: {Error: tc.text, Code: tc.code}})
		_, err := c.Nodes()
		if !errors.Is(err, tc.want) || err.Error() != tc.text {
			t.Errorf("reply %q, code %d: Nodes() = %v, want %v with the same text", tc.text, tc.code, err, tc.want)
		}
	}
	// A code no table has means nothing, whatever the text.
	c := dialFake(t, map[string]localapi.Reply{localapi.OpNodes: {Error: "Node is down", Code: 999}})
	if _, err := c.Nodes(); err == nil || errors.Is(err, localapi.ErrNodeDown) {
		t.Errorf("reply with code 999: Nodes() = %v, want an error of no meaning", err)
	}
}

func TestRankAndEventErrors(t *testing.T) {
	if RankError(localapi.Rank{Token: "x"}) != nil || EventError(localapi.Event{}) != nil {
		t.Error("no text, no error")
	}
	var rk localapi.Rank
	rk.Refuse(localapi.ErrInvalidNode)
	if err := RankError(rk); !errors.Is(err, localapi.ErrInvalidNode) || err.Error() != "Invalid node number" {
		t.Errorf("RankError = %v", err)
	}
	// From a master older than codes: the text.
	if err := EventError(localapi.Event{Error: "Slave node died"}); !errors.Is(err, localapi.ErrSlaveDied) {
		t.Errorf("EventError of a text = %v", err)
	}
	if err := FailureError(localapi.Failure(4, localapi.ErrNodeDown)); !errors.Is(err, localapi.ErrNodeDown) || err.Error() != "node 4: Node is down" {
		t.Errorf("FailureError = %v", err)
	}
}
