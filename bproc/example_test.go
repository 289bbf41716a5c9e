package bproc_test

import (
	"errors"
	"fmt"

	"github.com/bproc/bproc/bproc"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// Without a master on the socket, Dial says so.
func ExampleDial() {
	_, err := bproc.Dial("/nonexistent/master.sock")
	fmt.Println(err)
	fmt.Println(errors.Is(err, bproc.ErrNoMaster))
	// Output:
	// bpmaster is not running (no one listens on /nonexistent/master.sock)
	// true
}

// A node given to one user, as bpctl -u 1000 -m 0100 leaves it.
func ExampleMayRun() {
	node := localapi.NodeStatus{Num: 1, State: "up", UID: 1000, GID: 1000, Mode: 0o100}
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1000, GID: 1000}))
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1001, GID: 1001}))
	node.State = "down"
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1000, GID: 1000}))
	// Output:
	// <nil>
	// Permission denied
	// Node is down
}

// The nodes a Ctl could not change come with the master's texts, which
// errors.Is knows.
func ExampleFailureError() {
	err := bproc.FailureError(localapi.NodeError{Node: 3, Error: "Node is down"})
	fmt.Println(err, errors.Is(err, bproc.ErrNodeDown))
	// Output: node 3: Node is down true
}
