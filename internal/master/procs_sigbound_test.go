package master

import (
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/loglimit"
	"github.com/bproc/bproc/internal/shared/wire"
)

// gatedChannel is a process channel whose node answers a signal only once
// the gate opens, counting what it got.
type gatedChannel struct {
	ssh.Channel
	gate chan struct{}
	mu   sync.Mutex
	got  int
}

func (c *gatedChannel) SendRequest(name string, wantReply bool, payload []byte) (bool, error) {
	<-c.gate
	if name == wire.ReqSignal {
		c.mu.Lock()
		c.got++
		c.mu.Unlock()
	}
	return true, nil
}

// TestSignalsBounded: a flood of signals to one process, which its node
// delivers slowly or not at all (away), holds at most maxQueuedSignals of
// them on the master; the rest are dropped. Before, every one waited.
func TestSignalsBounded(t *testing.T) {
	m := &Master{nodes: map[int]*node{}, routines: newRoutines(), log: slog.New(slog.DiscardHandler),
		warns: loglimit.New(loglimit.DefaultEvery, loglimit.DefaultBurst)}
	j := &job{cred: localapi.Cred{PID: 7, UID: 1000}}
	const flood = 4 * maxQueuedSignals

	// The node delivers one at a time and is slow: they wait in the
	// process's sender queue.
	ch := &gatedChannel{gate: make(chan struct{})}
	p := &proc{m: m, pid: 7, rank: &rank{job: j}, job: j, ch: ch}
	for range flood {
		p.signal(syscall.SIGUSR1)
	}
	p.mu.Lock()
	queued := len(p.queue)
	p.mu.Unlock()
	if queued > maxQueuedSignals {
		t.Errorf("%d signals queued for one process; want at most %d", queued, maxQueuedSignals)
	}
	close(ch.gate)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		idle := !p.sending
		p.mu.Unlock()
		if idle || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ch.mu.Lock()
	got := ch.got
	ch.mu.Unlock()
	if got < maxQueuedSignals || got > maxQueuedSignals+1 {
		t.Errorf("the node got %d signals of %d; want the %d (+1 on its way) the master kept", got, flood, maxQueuedSignals)
	}

	// Its node is away: they are held for its return.
	away := &proc{m: m, pid: 8, rank: &rank{job: j}, job: j}
	for range flood {
		away.hold(syscall.SIGUSR1)
	}
	if n := len(away.rs.held); n != maxQueuedSignals {
		t.Errorf("%d signals held for a process whose node is away; want %d", n, maxQueuedSignals)
	}
}
