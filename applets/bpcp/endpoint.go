package bpcp

import (
	"fmt"
	"strconv"
	"strings"
)

// local is the node number of a path on this machine.
const local = -2

// endpoint is one argument: a path here, or NODE:PATH on a node.
type endpoint struct {
	node int // local, or a node number
	path string
	arg  string // as typed, for messages
}

// parseEndpoint reads "PATH" or "NODE:PATH", where NODE is a node number,
// nN or .N (BProc's forms). A colon after a slash belongs to the path
// ("./a:b"), as in rcp.
func parseEndpoint(arg string) (endpoint, error) {
	if arg == "" {
		return endpoint{}, fmt.Errorf("empty path")
	}
	head, rest, ok := strings.Cut(arg, ":")
	if !ok || strings.Contains(head, "/") {
		return endpoint{node: local, path: arg, arg: arg}, nil
	}
	num := strings.TrimPrefix(strings.TrimPrefix(head, "n"), ".")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || num == "" || num[0] == '+' || num[0] == '-' {
		return endpoint{}, fmt.Errorf("%q: %q is not a node number", arg, head)
	}
	if rest == "" {
		rest = "."
	}
	return endpoint{node: n, path: rest, arg: arg}, nil
}

func (e endpoint) String() string { return e.arg }
