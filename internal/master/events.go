package master

import (
	"fmt"
	"sync"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// The bounds of the event streams (bpstat --events). A subscriber's
// queue holds eventQueue events; one that falls further behind is
// dropped with a last EventDropped, so a reader that stops reading costs
// the master eventQueue events, never more. A user holds at most
// maxStreams streams (root rootMaxStreams): each is a connection too,
// counted by maxconns, but the queues are the larger cost.
const (
	eventQueue     = 1024
	maxStreams     = 8
	rootMaxStreams = 64
)

// events sends what happens in the cluster to its subscribers, in one
// order: seq is given and the queues are filled under mu. Lock order:
// the master's mu, then events.mu; events.mu takes no other lock.
type events struct {
	mu    sync.Mutex
	seq   uint64
	subs  map[*subscriber]struct{}
	byUID map[uint32]int
	// states are the node states last published, to tell a change of
	// state from the table's other changes; boots are when each node
	// entered boot, for the boot durations.
	states map[int]string
	boots  map[int]time.Time
}

// subscriber is one event stream.
type subscriber struct {
	cred localapi.Cred
	ch   chan localapi.ClusterEvent
	// dropped is closed when the queue overflowed: the stream ends.
	dropped chan struct{}
	gone    bool // dropped or unsubscribed: no more sends (under events.mu)
}

// sees reports whether the subscriber may know of ev: node changes are
// everyone's (bpstat shows them); a process is its user's and root's.
func (s *subscriber) sees(ev *localapi.ClusterEvent) bool {
	if ev.Kind == localapi.EventNode || s.cred.UID == 0 {
		return true
	}
	return ev.UID == s.cred.UID
}

func (e *events) subscribe(c localapi.Cred) (*subscriber, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	limit := maxStreams
	if c.UID == 0 {
		limit = rootMaxStreams
	}
	if e.byUID[c.UID] >= limit {
		return nil, fmt.Errorf("events: uid %d holds %d event streams already, the limit", c.UID, limit)
	}
	if e.subs == nil {
		e.subs, e.byUID = make(map[*subscriber]struct{}), make(map[uint32]int)
	}
	s := &subscriber{cred: c, ch: make(chan localapi.ClusterEvent, eventQueue), dropped: make(chan struct{})}
	e.subs[s] = struct{}{}
	e.byUID[c.UID]++
	return s, nil
}

func (e *events) unsubscribe(s *subscriber) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[s]; !ok {
		return
	}
	delete(e.subs, s)
	if e.byUID[s.cred.UID]--; e.byUID[s.cred.UID] <= 0 {
		delete(e.byUID, s.cred.UID)
	}
	s.gone = true
}

// streams is how many subscribers there are (the metrics).
func (e *events) streams() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}

// publish numbers ev and queues it for whoever may see it. It never
// blocks: a full queue drops its subscriber.
func (e *events) publish(ev localapi.ClusterEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publishLocked(ev)
}

func (e *events) publishLocked(ev localapi.ClusterEvent) {
	e.seq++
	ev.Seq = e.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	for s := range e.subs {
		if s.gone || !s.sees(&ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			s.gone = true
			close(s.dropped)
		}
	}
}

// nodesLocked publishes the state changes in the table since the last
// call, and returns the boots that ended (node, how long) for the
// metrics. The caller holds the master's mu.
func (e *events) nodesLocked(nodes map[int]*node, now time.Time) (booted []time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.states == nil {
		e.states, e.boots = make(map[int]string), make(map[int]time.Time)
	}
	for num, n := range nodes {
		from, ok := e.states[num]
		if !ok {
			from = localapi.StateDown
		}
		if n.state == from {
			continue
		}
		e.states[num] = n.state
		switch {
		case n.state == localapi.StateBoot:
			e.boots[num] = now
		case from == localapi.StateBoot && n.state != localapi.StateDown:
			booted = append(booted, now.Sub(e.boots[num]))
			delete(e.boots, num)
		}
		ev := localapi.ClusterEvent{Time: now, Kind: localapi.EventNode, Node: num, From: from, State: n.state}
		if n.state == n.held {
			ev.Reason = n.reason
		}
		e.publishLocked(ev)
	}
	return booted
}

// procEvent is a process's start or end as a stream shows it.
func procEvent(kind string, p *proc, status *wire.ExitStatus, started bool, why error) localapi.ClusterEvent {
	ev := localapi.ClusterEvent{Kind: kind, Node: p.rank.node, PID: p.pid, UID: p.job.cred.UID, Status: status, Started: started}
	if why != nil {
		ev.Error = why.Error()
	}
	return ev
}
