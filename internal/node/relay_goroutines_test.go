package node

import (
	"log/slog"
	"os/exec"
	"runtime/metrics"
	"testing"
	"time"

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
	h := newRelayHarness(t)
	h.life(1000) // the mux's writers and such, once
	best := uint64(1 << 20)
	for i := range 5 {
		best = min(best, h.life(1001+i))
	}
	// The node's relay, its exit's wait and its requests' server, and
	// the writers of each side's records and the reader's pump: seven
	// at most, where an idle Go runtime starts none of its own.
	if best > 7 {
		t.Errorf("a descendant's relay started %d goroutines, want at most 7", best)
	}
	t.Logf("%d goroutines per relay", best)
}

// TestSpaceRelayEndsAtClose: a kept descendant's relay (a grace time,
// protocol 2 and later) is over as soon as the master has closed it on
// the ChanSpace, which tells a close from a lost connection at once; a
// channel of its own waited lostWait (1 s) to tell, a timer and a
// goroutine per fork.
func TestSpaceRelayEndsAtClose(t *testing.T) {
	h := newRelayHarness(t)
	h.s.keeper.grace = time.Minute
	h.life(2000)
	start := time.Now()
	for {
		h.s.keeper.mu.Lock()
		left := len(h.s.keeper.links)
		h.s.keeper.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the relay was never over")
		}
		time.Sleep(time.Millisecond)
	}
	if d := time.Since(start); d > lostWait/2 {
		t.Errorf("relay over %v after the master's close, want at once", d)
	}
}

// relayHarness is a node's ChanSpace and the master's side of it.
type relayHarness struct {
	t  *testing.T
	s  *Slave
	sp *space
	m  *spacemux.Mux
}

func newRelayHarness(t *testing.T) *relayHarness {
	p := newSSHPair(t)
	sp := &space{tracked: map[int]*tracked{}}
	s := &Slave{log: slog.New(slog.DiscardHandler), space: sp}
	sp.s = s
	p.serveSpace(s)
	ch, reqs, err := p.master.OpenChannel(wire.ChanSpace, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := spacemux.New(ch, reqs, true, func(string, ...any) {}, nil)
	return &relayHarness{t: t, s: s, sp: sp, m: m}
}

// life runs the relay of a short process whose ghost is ghost, from the
// master's adopt to its exit and the master's close, until the node's
// relay has returned; it says how many goroutines were started meanwhile.
func (h *relayHarness) life(ghost int) uint64 {
	t := h.t
	child := exec.Command("sleep", "0.1")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.PidfdOpen(child.Process.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	tr := h.sp.entry(ghost)
	tr.pidfd, tr.nodePID = fd, child.Process.Pid
	close(tr.ready)
	go child.Wait() // reaps it: its status stays with the pidfd
	before := goroutinesCreated()
	r, err := h.m.Open(ghost)
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
		h.sp.mu.Lock()
		_, left := h.sp.tracked[ghost]
		h.sp.mu.Unlock()
		if !left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node's relay did not end")
		}
	}
	return goroutinesCreated() - before
}
