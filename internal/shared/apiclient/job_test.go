package apiclient

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// runMaster answers one run request with a rank per node, then sends
// events events and says on the returned channel whether all were sent
// within a few seconds.
func runMaster(t *testing.T, events int) (string, <-chan error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "master.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	sent := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			sent <- err
			return
		}
		t.Cleanup(func() { c.Close() })
		var req localapi.Request
		if err := localapi.ReadFrame(c, &req); err != nil {
			sent <- err
			return
		}
		ranks := make([]localapi.Rank, len(req.Run.Nodes))
		for i, n := range req.Run.Nodes {
			ranks[i] = localapi.Rank{Node: n, Token: "not-a-token"}
		}
		if err := localapi.WriteFrame(c, localapi.Reply{Ranks: ranks}); err != nil {
			sent <- err
			return
		}
		for i := range events {
			// A deadline per frame, not for all of them: a client that
			// stops reading blocks one write for good, while 30,000 frames
			// under -race on a loaded machine took more than 5 s in all.
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := localapi.WriteFrame(c, localapi.Event{Rank: 0, PID: 100000 + i, Started: true, Final: true, Warning: strings.Repeat("w", 100)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	return sock, sent
}

// runOneRank runs a job of one rank on node 0 against runMaster; it is
// closed when the test ends.
func runOneRank(t *testing.T, events int) (*Job, <-chan error) {
	t.Helper()
	sock, sent := runMaster(t, events)
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.Run(localapi.Run{Nodes: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { job.Close() })
	return job, sent
}

// TestEventsUnread: the master's sends never wait for the caller to
// read Events (bpmaster's writes blocked once 64 were queued and the
// socket's buffer was full, and its ghosts were told nothing more).
func TestEventsUnread(t *testing.T) {
	const n = 30000 // some 4 MB, beyond any socket buffer
	job, sent := runOneRank(t, n)
	if err := <-sent; err != nil {
		t.Fatalf("the master's sends with Events unread: %v", err)
	}
	// All of them come, in order, to whoever reads at last.
	for i := range n {
		ev, ok := <-job.Events
		if !ok || ev.PID != 100000+i {
			t.Fatalf("event %d: %+v, %v", i, ev, ok)
		}
	}
}

// TestStartGhostRange: a rank the job does not have is an error.
func TestStartGhostRange(t *testing.T) {
	job, _ := runOneRank(t, 0)
	for _, i := range []int{5, 1, -1} {
		if _, err := job.StartGhost(i, [3]*os.File{}); err == nil || !strings.Contains(err.Error(), "the job has ranks 0 to 0") {
			t.Errorf("StartGhost(%d) on a one-rank job = %v", i, err)
		}
	}
}
