package master

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestTakeBackMoveNewNodeLater: a master killed in a move between nodes,
// the new node coming back after the old one. The old node back without
// the process (the move had finished): it waits for the new node, whose
// first hello takes it back, instead of being lost. The old node back
// with it (the move had not finished): the new node's copy is not taken
// back (its hello's reply does not name it, so the node ends it) instead
// of waiting claimWait for a ghost. No node left to come back: lost at
// once.
func TestTakeBackMoveNewNodeLater(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	setup := func() (*Master, *node, *node, *proc) {
		m := &Master{nodes: map[int]*node{}, procs: map[int]*proc{}, routines: newRoutines(), log: log}
		m.cfg.NodeGrace = time.Minute
		from, to := newNode(0, false, saved{}), newNode(1, false, saved{})
		from.conn, to.conn = &ssh.ServerConn{Conn: &refusingConn{}}, &ssh.ServerConn{Conn: &refusingConn{}}
		m.nodes[0], m.nodes[1] = from, to
		p := returnedProc(m, from, 40, 1000)
		m.procs[40] = p
		return m, from, to, p
	}

	m, from, to, p := setup()
	defer m.routines.stop()
	m.takeBack(from, nil, nil, nil, log) // the old node, without it
	if p.rs.dropped {
		t.Fatalf("move finished, new node not back yet: the process is lost at the old node's hello")
	}
	back, unclaimed := m.takeBack(to, []int{40}, []uint32{1000}, nil, log)
	if !slices.Equal(pids(back), []int{40}) || len(unclaimed) != 0 {
		t.Errorf("move finished: new node's hello takes back %v, waits for ghosts of %v; want [40] taken back", pids(back), unclaimed)
	}
	if to.procs[40] != p || from.procs[40] != nil || p.rank.node != 1 || p.rs.dropped || m.away[40] != nil {
		t.Errorf("move finished: process on node 1 %v, on node 0 %v, rank node %d, dropped %v, away %v; want it on node 1",
			to.procs[40] != nil, from.procs[40] != nil, p.rank.node, p.rs.dropped, m.away[40] != nil)
	}

	m, from, to, p = setup()
	defer m.routines.stop()
	if back, _ := m.takeBack(from, []int{40}, []uint32{1000}, nil, log); !slices.Equal(pids(back), []int{40}) {
		t.Fatalf("move not finished: old node's hello takes back %v, want [40]", pids(back))
	}
	back, unclaimed = m.takeBack(to, []int{40}, []uint32{1000}, nil, log)
	if len(back) != 0 || len(unclaimed) != 0 || to.unclaimed[40] != 0 {
		t.Errorf("move not finished: new node's copy taken back %v, waits for its ghost %v; want it ended at once", pids(back), unclaimed)
	}
	if from.procs[40] != p || p.rank.node != 0 || p.rs.dropped {
		t.Errorf("move not finished: the original left node 0 (dropped %v)", p.rs.dropped)
	}

	m, from, to, p = setup()
	defer m.routines.stop()
	m.takeBack(from, nil, nil, nil, log)
	m.takeBack(to, nil, nil, nil, log) // the new node, without it too
	if !p.rs.dropped || m.away[40] != nil {
		t.Errorf("no node had it: dropped %v, away %v; want it lost once every node is back", p.rs.dropped, m.away[40] != nil)
	}

	m, from, _, p = setup()
	defer m.routines.stop()
	m.cfg.NodeGrace = 50 * time.Millisecond // claimWait
	m.takeBack(from, nil, nil, nil, log)
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		away := m.away[40] != nil
		m.mu.Unlock()
		p.rs.mu.Lock()
		dropped := p.rs.dropped
		p.rs.mu.Unlock()
		if dropped && !away {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new node never back: process still waits after claimWait (dropped %v, away %v)", dropped, away)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
