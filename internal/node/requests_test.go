package node

import (
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// TestMasterRequests: the node answers the master's pings and stats,
// takes a known action (one at a time) and refuses what it does not know.
func TestMasterRequests(t *testing.T) {
	s := testSlave(t)
	p := newSSHPair(t)
	actions := make(chan string, 1)
	go s.masterRequests(p.reqs, actions)

	ask := func(typ string, payload []byte) (bool, []byte) {
		t.Helper()
		ok, reply, err := p.master.SendRequest(typ, true, payload)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		return ok, reply
	}
	if ok, _ := ask(wire.ReqPing, nil); !ok {
		t.Error("ping refused")
	}
	ok, reply := ask(wire.ReqStats, nil)
	var st wire.NodeStats
	if err := wire.Decode(wire.ReqStats, reply, &st); !ok || err != nil {
		t.Fatalf("stats: ok %v, %v", ok, err)
	}
	if st.MemTotal == 0 || st.CPUs < 1 {
		t.Errorf("stats of this machine implausible: %+v", st)
	}
	for _, tc := range []struct {
		typ, payload string
		ok           bool
	}{
		{wire.ReqAction, "halt", true},
		{wire.ReqAction, "reboot", true}, // while halt is under way: answered, not queued
		{wire.ReqAction, "explode", false},
		{wire.ReqAction, "", false},
		{"bproc-no-such-request", "", false},
	} {
		if ok, _ := ask(tc.typ, []byte(tc.payload)); ok != tc.ok {
			t.Errorf("%s %q: ok %v, want %v", tc.typ, tc.payload, ok, tc.ok)
		}
	}
	select {
	case a := <-actions:
		if a != wire.ActionHalt {
			t.Errorf("action %q handed on, want %q", a, wire.ActionHalt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no action handed on")
	}
	select {
	case a := <-actions:
		t.Errorf("a second action %q handed on while the first was under way", a)
	default:
	}
	if ok, _ := ask(wire.ReqAction, []byte(wire.ActionPwroff)); !ok {
		t.Error("pwroff refused")
	}
	if a := <-actions; a != wire.ActionPwroff {
		t.Errorf("action %q handed on, want %q", a, wire.ActionPwroff)
	}
}
