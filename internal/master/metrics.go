package master

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// observer is what the master counts for /metrics (bpmaster --metrics)
// and streams to bpstat --events. Its zero value is ready: nothing of it
// runs at package initialisation or at the master's start.
//
// Why the text format by hand and not prometheus/client_golang v1.25.0:
// measured with a program that serves one gauge either way (CGO_ENABLED=0,
// -ldflags="-s -w"), client_golang made the binary 8.63 MB instead of
// 5.73 MB (+2.9 MB, +51%) and its 28 extra packages' init (protobuf,
// procfs, runtime/metrics) took 8.2 ms instead of 3.5 ms (median of 5,
// GODEBUG=inittrace=1): paid by every applet of the one binary, bpsh
// included, for a feature only bpmaster uses and only when asked. The
// format is a few lines of text; metrics_text.go writes it, and the
// integration test parses it strictly.
type observer struct {
	events events

	mu      sync.Mutex // guards the fields below
	launch  histogram  // run request to the process running, seconds
	boot    histogram  // node connected to set up (up or error), seconds
	moves   map[string]uint64
	started uint64
	ended   map[string]uint64 // by how: exit, signal, failed
	dropped uint64            // event streams dropped for falling behind
}

var (
	launchBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	bootBounds   = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// The kinds of move the metrics count (bproc_moves_total{kind}).
const (
	moveToNode  = "to_node" // the master's process to a node (bproc_move, rfork)
	moveBetween = "between" // from one node to another
	moveHome    = "home"    // from a node back to the master
	moveVRfork  = "vrfork"  // copies to several nodes at once
)

// nodesLocked is called at every change of the node table, under the
// master's mu: it streams the state changes and times the boots.
func (o *observer) nodesLocked(nodes map[int]*node) {
	booted := o.events.nodesLocked(nodes, time.Now())
	if len(booted) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.boot.bounds == nil {
		o.boot = newHistogram(bootBounds...)
	}
	for _, d := range booted {
		o.boot.observe(d.Seconds())
	}
}

// procStarted is called once a process runs on its node: a run's rank
// (timed from its run request), a moved process or a descendant.
func (m *Master) procStarted(p *proc) {
	m.mu.Lock()
	ev := procEvent(localapi.EventStart, p, nil, true, nil)
	m.mu.Unlock()
	m.obs.events.publish(ev)
	o := &m.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started++
	if p.rank.pre == nil && p.rank.desc == nil && !p.job.asked.IsZero() {
		if o.launch.bounds == nil {
			o.launch = newHistogram(launchBounds...)
		}
		o.launch.observe(time.Since(p.job.asked).Seconds())
	}
}

// procEnded is called when a process's end is told to its ghost.
func (m *Master) procEnded(p *proc, s wire.ExitStatus, started bool, why error) {
	m.mu.Lock()
	ev := procEvent(localapi.EventExit, p, &s, started, why)
	m.mu.Unlock()
	m.obs.events.publish(ev)
	how := "exit"
	switch {
	case !started:
		how = "failed"
	case s.Signal != 0:
		how = "signal"
	}
	o := &m.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended == nil {
		o.ended = make(map[string]uint64)
	}
	o.ended[how]++
}

// moved counts a move that succeeded.
func (o *observer) moved(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.moves == nil {
		o.moves = make(map[string]uint64)
	}
	o.moves[kind]++
}

func (o *observer) droppedStream() {
	o.mu.Lock()
	o.dropped++
	o.mu.Unlock()
}

// nodeSample is what the metrics show of one node, taken under the
// master's mu and written without it.
type nodeSample struct {
	num         int
	state, held string
	reason      string
	since       time.Time
	procs       int
	stats       *wire.NodeStats
	filesSent   int64
	connected   bool
}

// writeMetrics writes every family. No user names and no command lines:
// a scrape is read by whoever the metrics address lets in.
func (m *Master) writeMetrics(w io.Writer) error {
	m.mu.Lock()
	nodes := make([]nodeSample, 0, len(m.nodes))
	for _, n := range m.nodes {
		nodes = append(nodes, nodeSample{num: n.num, state: n.state, held: n.held, reason: n.reason, since: n.since,
			procs: len(n.procs), stats: n.stats, filesSent: n.filesSent.Load(), connected: n.conn != nil})
	}
	ghosts := len(m.procs)
	m.mu.Unlock()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].num < nodes[j].num })
	local := m.conns.total()
	streams := m.obs.events.streams()
	o := &m.obs
	o.mu.Lock()
	launch, boot := o.launch.clone(), o.boot.clone()
	moves, ended := copyCounts(o.moves), copyCounts(o.ended)
	started, dropped := o.started, o.dropped
	o.mu.Unlock()
	if launch.bounds == nil {
		launch = newHistogram(launchBounds...)
	}
	if boot.bounds == nil {
		boot = newHistogram(bootBounds...)
	}

	bw := bufio.NewWriter(w)
	e := &expo{w: bw}
	byState := map[string]int{}
	connected := 0
	for _, n := range nodes {
		byState[n.state]++
		if n.connected {
			connected++
		}
	}
	e.family("bproc_nodes", "gauge", "Nodes in each state.")
	for _, s := range []string{localapi.StateDown, localapi.StateBoot, localapi.StateUp, localapi.StateError, localapi.StateUnavailable} {
		e.sample("bproc_nodes", float64(byState[s]), "state", s)
	}
	e.family("bproc_node_up", "gauge", "1 if the node is up, else 0.")
	for _, n := range nodes {
		e.sample("bproc_node_up", b2f(n.state == localapi.StateUp), "node", strconv.Itoa(n.num))
	}
	e.family("bproc_node_load1", "gauge", "The node's 1-minute load average, as last reported; absent while it is down.")
	for _, n := range nodes {
		if n.stats != nil {
			e.sample("bproc_node_load1", n.stats.Load[0], "node", strconv.Itoa(n.num))
		}
	}
	e.family("bproc_node_memory_available_bytes", "gauge", "The node's available memory, as last reported; absent while it is down.")
	for _, n := range nodes {
		if n.stats != nil {
			e.sample("bproc_node_memory_available_bytes", float64(n.stats.MemTotal-min(n.stats.MemUsed, n.stats.MemTotal)), "node", strconv.Itoa(n.num))
		}
	}
	e.family("bproc_node_memory_total_bytes", "gauge", "The node's memory, as last reported; absent while it is down.")
	for _, n := range nodes {
		if n.stats != nil {
			e.sample("bproc_node_memory_total_bytes", float64(n.stats.MemTotal), "node", strconv.Itoa(n.num))
		}
	}
	e.family("bproc_processes", "gauge", "Processes of the cluster's process space running on the node.")
	for _, n := range nodes {
		e.sample("bproc_processes", float64(n.procs), "node", strconv.Itoa(n.num))
	}
	e.family("bproc_node_files_sent_bytes_total", "counter", "Bytes of the master's files sent to the node (its view, pushed programs) since the master started.")
	for _, n := range nodes {
		e.sample("bproc_node_files_sent_bytes_total", float64(n.filesSent), "node", strconv.Itoa(n.num))
	}
	e.family("bproc_node_held", "gauge", "1 for a node an administrator holds in error or unavailable, with the reason given (bpctl --reason).")
	for _, n := range nodes {
		if n.held != "" {
			e.sample("bproc_node_held", 1, "node", strconv.Itoa(n.num), "state", n.held, "reason", n.reason)
		}
	}
	e.family("bproc_node_held_since_seconds", "gauge", "When the administrator put the node in its held state, in seconds since the epoch.")
	for _, n := range nodes {
		if n.held != "" && !n.since.IsZero() {
			e.sample("bproc_node_held_since_seconds", float64(n.since.UnixMilli())/1000, "node", strconv.Itoa(n.num))
		}
	}
	e.family("bproc_connections", "gauge", "Open connections to the master, by kind: node (SSH), local (its socket: tools, programs, ghosts), ghost (of a running remote process), events (bpstat --events streams).")
	e.sample("bproc_connections", float64(connected), "kind", "node")
	e.sample("bproc_connections", float64(local), "kind", "local")
	e.sample("bproc_connections", float64(ghosts), "kind", "ghost")
	e.sample("bproc_connections", float64(streams), "kind", "events")
	e.histogram("bproc_launch_duration_seconds", "Time from a run request to its process running on the node.", launch)
	e.histogram("bproc_node_boot_duration_seconds", "Time from a node's connection to the end of its setup (up, or error).", boot)
	e.family("bproc_moves_total", "counter", "Processes moved, by kind: to_node, between (nodes), home (to the master), vrfork.")
	for _, k := range []string{moveToNode, moveBetween, moveHome, moveVRfork} {
		e.sample("bproc_moves_total", float64(moves[k]), "kind", k)
	}
	e.family("bproc_processes_started_total", "counter", "Remote processes started (ranks, moved processes, descendants).")
	e.sample("bproc_processes_started_total", float64(started))
	e.family("bproc_processes_ended_total", "counter", "Remote processes ended, by how: exit, signal, failed (never ran).")
	for _, k := range []string{"exit", "signal", "failed"} {
		e.sample("bproc_processes_ended_total", float64(ended[k]), "how", k)
	}
	e.family("bproc_event_streams_dropped_total", "counter", "Event streams (bpstat --events) ended because their reader fell behind.")
	e.sample("bproc_event_streams_dropped_total", float64(dropped))
	return bw.Flush()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func copyCounts(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// total is every user's connections to the local socket together.
func (c *conns) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, n := range c.n {
		t += n
	}
	return t
}
