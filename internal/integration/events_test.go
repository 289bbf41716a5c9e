package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestEvents: bpstat --events streams node state changes and process
// starts and ends in order; root sees every process, a user their own
// only.
func TestEvents(t *testing.T) {
	c := startCluster(t, 1, "--metrics", "127.0.0.1:0")
	addr := c.metricsAddr(t)
	bin := userBinary(t)
	const user = 65534

	// Root's stream, through the client package.
	rootEvents := make(chan localapi.ClusterEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	streamDone := make(chan error, 1)
	cl := c.client()
	go func() {
		streamDone <- cl.Events(ctx, func(ev localapi.ClusterEvent) error { rootEvents <- ev; return nil })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-streamDone; err != context.Canceled {
			t.Errorf("root's stream ended with %v, want context.Canceled", err)
		}
	})
	// The user's, through bpstat --events --json, a JSON object a line.
	userEvents := make(chan localapi.ClusterEvent, 100)
	cmd := exec.Command(bin, "bpstat", "--events", "--json")
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: user, Gid: user, Groups: []uint32{user}},
		Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev localapi.ClusterEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("bpstat --events --json line %q: %v", sc.Text(), err)
			}
			userEvents <- ev
		}
		close(userEvents)
	}()
	waitMetric(t, addr, "both streams open", func(s *scrape) bool { return s.get(`bproc_connections{kind="events"}`) == 2 })

	if r := c.run("", "bpsh", "0", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("bpsh as root: exit %d, %q", r.code, r.stderr)
	}
	if r := c.as(t, bin, user, "bpsh", "0", "true"); r.code != 0 {
		t.Fatalf("bpsh as %d: exit %d, %q", user, r.code, r.stderr)
	}
	for _, args := range [][]string{{"-S", "0", "-s", "unavailable", "--reason", "maintenance"}, {"-S", "0", "-s", "up"}} {
		if r := c.run("", "bpctl", args...); r.code != 0 {
			t.Fatalf("bpctl %v: exit %d, %q", args, r.code, r.stderr)
		}
	}

	// Both streams end (for this test) with node 0's release.
	collect := func(ch <-chan localapi.ClusterEvent, who string) []localapi.ClusterEvent {
		var evs []localapi.ClusterEvent
		timeout := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatalf("%s's stream ended after %+v", who, evs)
				}
				evs = append(evs, ev)
				if ev.Kind == localapi.EventNode && ev.State == "up" && ev.From == "unavailable" {
					return evs
				}
			case <-timeout:
				t.Fatalf("%s's stream: no release of node 0 within 20 s; got %+v", who, evs)
			}
		}
	}
	root, mine := collect(rootEvents, "root"), collect(userEvents, "the user")
	checkOrder(t, "root", root)
	checkOrder(t, "the user", mine)
	want := []string{"start 0", "exit 0 3", "start 65534", "exit 65534 0", "node up->unavailable maintenance", "node unavailable->up"}
	if got := summarize(root); !equalStrings(got, want) {
		t.Errorf("root's events %q, want %q", got, want)
	}
	if got, want := summarize(mine), []string{"start 65534", "exit 65534 0", "node up->unavailable maintenance", "node unavailable->up"}; !equalStrings(got, want) {
		t.Errorf("the user's events %q, want %q (none of root's processes)", got, want)
	}
}

// checkOrder: sequence numbers rise, and each process starts before it
// ends, once each.
func checkOrder(t *testing.T, who string, evs []localapi.ClusterEvent) {
	t.Helper()
	seen := map[int]string{}
	for i, ev := range evs {
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Errorf("%s: event %d has seq %d after %d", who, i, ev.Seq, evs[i-1].Seq)
		}
		switch ev.Kind {
		case localapi.EventStart:
			if seen[ev.PID] != "" {
				t.Errorf("%s: pid %d started after %s", who, ev.PID, seen[ev.PID])
			}
			seen[ev.PID] = "start"
		case localapi.EventExit:
			if seen[ev.PID] != "start" {
				t.Errorf("%s: pid %d ended without a start before", who, ev.PID)
			}
			seen[ev.PID] = "exit"
		}
	}
}

// summarize is the events without times, sequence numbers and PIDs.
func summarize(evs []localapi.ClusterEvent) []string {
	var out []string
	for _, ev := range evs {
		switch ev.Kind {
		case localapi.EventStart:
			out = append(out, "start "+itoa(int(ev.UID)))
		case localapi.EventExit:
			s := "exit " + itoa(int(ev.UID))
			if ev.Status != nil && ev.Started {
				s += " " + itoa(ev.Status.Code)
			}
			out = append(out, s)
		case localapi.EventNode:
			s := "node " + ev.From + "->" + ev.State
			if ev.Reason != "" {
				s += " " + ev.Reason
			}
			out = append(out, s)
		default:
			out = append(out, ev.Kind)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
