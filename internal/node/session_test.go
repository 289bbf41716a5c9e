package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestSession: a session says hello with what the node is, takes the
// ping interval the master answers, refuses channels it does not know
// and dumps of processes it did not start, and ends on the master's
// halt, which it records for Run.
func TestSession(t *testing.T) {
	s := testSlave(t)
	s.cfg.Diskless = true
	hellos := make(chan wire.NodeHello, 1)
	p := newSSHPairAnswering(t, func(r *ssh.Request) {
		if r.Type != wire.ReqHello {
			r.Reply(false, nil)
			return
		}
		var h wire.NodeHello
		if err := wire.Decode(r.Type, r.Payload, &h); err != nil {
			t.Errorf("hello: %v", err)
		}
		hellos <- h
		r.Reply(true, wire.Encode(wire.HelloReply{PingInterval: time.Hour}))
	})
	started := false
	ended := make(chan error, 1)
	go func() { ended <- s.session(context.Background(), p.node, p.chans, p.reqs, &started) }()

	select {
	case h := <-hellos:
		if h.Version != "bproc" || !h.Diskless || h.View || h.Local || h.Kernel == "" || h.Stats.MemTotal == 0 {
			t.Errorf("hello %+v: want version bproc, diskless without a view, not local, a kernel and stats", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hello")
	}
	for _, tc := range []struct {
		typ     string
		payload []byte
		says    string
	}{
		{"bproc-no-such-channel", nil, "unknown channel type bproc-no-such-channel"},
		{wire.ChanDump, []byte("{"), wire.ChanDump},
		{wire.ChanDump, wire.Encode(wire.DumpRequest{PID: 1, UID: 0}), "pid 1 is no process bproc started here"},
	} {
		_, _, err := p.master.OpenChannel(tc.typ, tc.payload)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || !strings.Contains(oce.Message, tc.says) {
			t.Errorf("channel %s %q: %v, want a rejection saying %q", tc.typ, tc.payload, err, tc.says)
		}
	}
	if !started {
		t.Error("the node's services were not started in its first session")
	}
	if ok, _, err := p.master.SendRequest(wire.ReqAction, true, []byte(wire.ActionHalt)); err != nil || !ok {
		t.Fatalf("halt: %v %v", ok, err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the session goes on after the master's halt")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.action != wire.ActionHalt || s.conn != nil {
		t.Errorf("after the halt: action %q, conn %v; want halt and no connection", s.action, s.conn)
	}
}
