package node

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// lockedBuf is a log written by the node's goroutines and read by the
// test.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSpaceChannelOnePerConnection: the node takes one ChanSpace per
// connection and refuses a second while the first is open; a record
// that makes no sense is logged in one line and the channel goes on; once
// the channel has ended, the master may open another.
func TestSpaceChannelOnePerConnection(t *testing.T) {
	p := newSSHPair(t)
	var log lockedBuf
	s := &Slave{log: slog.New(slog.NewTextHandler(&log, nil))}
	p.serveSpace(s)
	ch, reqs, err := p.master.OpenChannel(wire.ChanSpace, nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	_, _, err = p.master.OpenChannel(wire.ChanSpace, nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || !strings.Contains(oce.Message, "one per connection") {
		t.Fatalf("a second space channel: %v, want refused", err)
	}
	// The node's kind from the master, then a close of no relay: each
	// refused in one line.
	ch.Write(wire.SpaceRecord{Kind: wire.SpaceExit, ID: 1}.Marshal(nil))
	ch.Write(wire.SpaceRecord{Kind: wire.SpaceClose, ID: 2}.Marshal(nil))
	for deadline := time.Now().Add(5 * time.Second); strings.Count(log.String(), "record refused") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log: %s", log.String())
		}
	}
	if l := log.String(); !strings.Contains(l, "exit from the master, which never sends one") || !strings.Contains(l, "record of unknown relay 2") {
		t.Errorf("log: %s", l)
	}
	ch.Close()
	s.mu.Lock()
	dead := s.spaceMux.Dead()
	s.mu.Unlock()
	select {
	case <-dead:
	case <-time.After(5 * time.Second):
		t.Fatal("the space channel did not end with its close")
	}
	ch2, reqs2, err := p.master.OpenChannel(wire.ChanSpace, nil)
	if err != nil {
		t.Fatalf("a space channel after the first ended: %v", err)
	}
	go ssh.DiscardRequests(reqs2)
	ch2.Close()
}
