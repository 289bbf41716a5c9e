package node

import (
	"log/slog"
	"os/exec"
	"runtime/metrics"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spacemux"
	"github.com/bproc/bproc/internal/shared/wire"
)

// goroutinesCreated is the runtime's count of goroutines started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestSpaceRelayGoroutines: a descendant's relay on the ChanSpace, from
// the master's adopt to the exit and the close, starts few goroutines:
// each is a wake-up of an idle thread per fork of the node. No copy of a
// stdin it has not, nor a wait for output streams it has not: 7 where
// there were 9.
func TestSpaceRelayGoroutines(t *testing.T) {
	p := newSSHPair(t)
	sp := &space{tracked: map[int]*tracked{}}
	s := &Slave{log: slog.New(slog.DiscardHandler), space: sp}
	sp.s = s
	go func() {
		for nc := range p.chans {
			if nc.ChannelType() == wire.ChanSpace {
				s.acceptSpace(nc, p.node)
				continue
			}
			nc.Reject(ssh.UnknownChannelType, "not in this test")
		}
	}()
	ch, reqs, err := p.master.OpenChannel(wire.ChanSpace, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := spacemux.New(ch, reqs, true, func(string, ...any) {}, nil)
	relayOnce := func(ghost int) uint64 {
		child := exec.Command("sleep", "0.1")
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.PidfdOpen(child.Process.Pid, unix.PIDFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		tr := sp.entry(ghost)
		tr.pidfd, tr.nodePID = fd, child.Process.Pid
		close(tr.ready)
		go child.Wait() // reaps it: its status stays with the pidfd
		before := goroutinesCreated()
		r, err := m.Open(ghost)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case req, ok := <-r.Requests():
			if !ok || req.Type != wire.ReqExit {
				t.Fatalf("relay: %v %v, want its exit", req, ok)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no exit from the node's relay")
		}
		r.Close()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			sp.mu.Lock()
			_, left := sp.tracked[ghost]
			sp.mu.Unlock()
			if !left {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the node's relay did not end")
			}
		}
		return goroutinesCreated() - before
	}
	relayOnce(1000) // the mux's writers and such, once
	best := uint64(1 << 20)
	for i := range 5 {
		best = min(best, relayOnce(1001+i))
	}
	// The node's relay, its exit's wait and its requests' server, and
	// the writers of each side's records and the reader's pump: seven
	// at most, where an idle Go runtime starts none of its own.
	if best > 7 {
		t.Errorf("a descendant's relay started %d goroutines, want at most 7", best)
	}
	t.Logf("%d goroutines per relay", best)
}
