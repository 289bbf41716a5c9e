// Package localapitest is a stand-in master for tests of the local
// socket's clients: it answers each request with a canned reply for its
// op, over the real frames.
package localapitest

import (
	"net"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// Master listens on a socket in a temporary folder of t, answers every
// request with reply(request) until the test ends, and returns the
// socket's path. Requests of the silent ops are read and never answered
// (a watch of a table that never changes).
func Master(t testing.TB, reply func(localapi.Request) localapi.Reply, silent ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "master.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go Serve(l, reply, silent...)
	return sock
}

// Replies answers each request with the reply for its op (the zero
// Reply, success, for an op it does not list).
func Replies(replies map[string]localapi.Reply) func(localapi.Request) localapi.Reply {
	return func(req localapi.Request) localapi.Reply { return replies[req.Op] }
}

// Serve answers every request on l with reply(request), but those of the
// silent ops, until l is closed.
func Serve(l net.Listener, reply func(localapi.Request) localapi.Reply, silent ...string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				var req localapi.Request
				if localapi.ReadFrame(c, &req) != nil {
					return
				}
				if slices.Contains(silent, req.Op) {
					continue
				}
				if localapi.WriteFrame(c, reply(req)) != nil {
					return
				}
			}
		}()
	}
}
