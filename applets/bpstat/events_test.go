package bpstat

import (
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

func TestEventLine(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 30, 0, 0, time.Local)
	for _, tc := range []struct {
		ev   localapi.ClusterEvent
		want string
	}{
		{localapi.ClusterEvent{Time: at, Kind: "node", Node: 3, From: "up", State: "unavailable", Reason: "bad DIMM"}, "node 3  up -> unavailable  (bad DIMM)"},
		{localapi.ClusterEvent{Time: at, Kind: "start", Node: 0, PID: 7, UID: 1000}, "node 0  start  pid 7  uid 1000"},
		{localapi.ClusterEvent{Time: at, Kind: "exit", Node: 0, PID: 7, UID: 1000, Started: true, Status: &wire.ExitStatus{Code: 3}}, "exit   pid 7  uid 1000  exit 3"},
		{localapi.ClusterEvent{Time: at, Kind: "exit", Node: 0, PID: 7, Started: true, Status: &wire.ExitStatus{Signal: 9}, Error: "Slave node died"}, "killed by signal 9: Slave node died"},
		{localapi.ClusterEvent{Time: at, Kind: "exit", Node: 1, PID: 8, Status: &wire.ExitStatus{Code: 255}, Error: "x: no such file"}, "never ran: x: no such file"},
	} {
		got := eventLine(tc.ev)
		if !strings.HasPrefix(got, "2026-12-06 09:30:00  ") || !strings.HasSuffix(got, tc.want) {
			t.Errorf("eventLine(%+v) = %q, want it to end with %q", tc.ev, got, tc.want)
		}
	}
}

func TestHeldColumn(t *testing.T) {
	if s := heldColumn(localapi.NodeStatus{State: "up"}); s != "" {
		t.Errorf("heldColumn of a node not held = %q, want nothing", s)
	}
	since := time.Date(2026, 12, 6, 9, 31, 40, 0, time.Local)
	if s := heldColumn(localapi.NodeStatus{State: "unavailable", Reason: "bad DIMM", Since: &since}); s != "  since 2026-12-06 09:31:40  bad DIMM" {
		t.Errorf("heldColumn = %q", s)
	}
}

func TestEventsFlags(t *testing.T) {
	for _, args := range [][]string{{"--events", "-l"}, {"--events", "-U"}, {"--events", "3"}, {"--events", "-p"}} {
		c := cli{}
		c.Events = true
		for _, a := range args[1:] {
			switch a {
			case "-l":
				c.Long = true
			case "-U":
				c.Update = true
			case "-p":
				c.Procs = true
			default:
				c.Specs = append(c.Specs, a)
			}
		}
		if err := c.check(); err == nil || !strings.Contains(err.Error(), "--events") {
			t.Errorf("bpstat %v: %v, want refused", args, err)
		}
	}
	if err := (&cli{Events: true, JSON: true}).check(); err != nil {
		t.Errorf("bpstat --events --json: %v", err)
	}
}
