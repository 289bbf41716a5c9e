package master

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/loglimit"
)

// A user's stream carries node changes and the user's own processes.
func TestEventsFilter(t *testing.T) {
	var e events
	root, _ := e.subscribe(localapi.Cred{UID: 0})
	user, _ := e.subscribe(localapi.Cred{UID: 1000})
	e.publish(localapi.ClusterEvent{Kind: localapi.EventStart, PID: 5, UID: 0})
	e.publish(localapi.ClusterEvent{Kind: localapi.EventStart, PID: 6, UID: 1000})
	e.publish(localapi.ClusterEvent{Kind: localapi.EventNode, Node: 2, State: "up"})
	if len(root.ch) != 3 || len(user.ch) != 2 {
		t.Fatalf("root got %d events, the user %d; want 3 and 2", len(root.ch), len(user.ch))
	}
	if ev := <-user.ch; ev.PID != 6 || ev.Seq != 2 {
		t.Errorf("the user's first event = %+v, want pid 6, seq 2", ev)
	}
}

// A user holds a bounded number of streams; root more.
func TestEventsStreamLimit(t *testing.T) {
	var e events
	for i := 0; i < maxStreams; i++ {
		if _, err := e.subscribe(localapi.Cred{UID: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.subscribe(localapi.Cred{UID: 1000})
	if err == nil || !strings.Contains(err.Error(), "holds 8 event streams") {
		t.Errorf("stream %d of a user: %v, want refused", maxStreams+1, err)
	}
	if _, err := e.subscribe(localapi.Cred{UID: 1001}); err != nil {
		t.Errorf("another user's first stream: %v", err)
	}
}

// A subscriber that does not read costs the master its queue, no more:
// it is dropped, told why, and the publisher never waits for it.
func TestEventStreamDropsSlowReader(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
	}
	defer conns[1].Close()
	m := &Master{routines: newRoutines(), warns: loglimit.New(loglimit.DefaultEvery, loglimit.DefaultBurst), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &client{conn: conns[0], w: conns[0], cred: localapi.Cred{UID: 1000}, node: -1, log: m.log}
	served := make(chan struct{})
	go func() { m.serveEvents(c); close(served) }()
	var reply localapi.Reply
	if err := localapi.ReadFrame(conns[1], &reply); err != nil || reply.Error != "" {
		t.Fatalf("reply: %v %+v", err, reply)
	}
	const published = 20 * eventQueue
	began := time.Now()
	for i := 0; i < published; i++ {
		m.obs.events.publish(localapi.ClusterEvent{Kind: localapi.EventStart, PID: i + 1, UID: 1000})
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("publishing to a reader that reads nothing took %v", d)
	}
	var got []localapi.ClusterEvent
	for {
		var ev localapi.ClusterEvent
		if err := localapi.ReadFrame(conns[1], &ev); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("read: %v", err)
			}
			break
		}
		got = append(got, ev)
	}
	<-served
	if len(got) == 0 || got[len(got)-1].Kind != localapi.EventDropped || !strings.Contains(got[len(got)-1].Error, "fell 1024 events behind") {
		t.Fatalf("the stream's last frame is not the drop: %d frames, last %+v", len(got), got[len(got)-1])
	}
	if n := len(got) - 1; n >= published || got[n].Seq != uint64(n) {
		t.Errorf("the slow reader got %d events of %d, the drop says %d: want fewer, and the last one sent", n, published, got[n].Seq)
	}
	for i, ev := range got[:len(got)-1] {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a gap before the drop", i, ev.Seq)
		}
	}
	if n := m.obs.events.streams(); n != 0 || m.obs.dropped != 1 {
		t.Errorf("after the drop: %d streams, %d dropped; want 0 and 1", n, m.obs.dropped)
	}
}
