package master

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// returnedProc is a process whose ghost came back to a restarted master
// as uid, waiting for its node.
func returnedProc(m *Master, n *node, pid int, uid uint32) *proc {
	j := &job{cred: localapi.Cred{PID: pid, UID: uid}}
	p := &proc{m: m, pid: pid, rank: &rank{job: j, node: n.num}, job: j, returned: true, first: n}
	n.procs[pid] = p
	return p
}

// TestTakeBackOwner: a node's first hello to a restarted master takes
// back a kept process for a ghost that came back only if the ghost's
// user is the process's; one whose ghost is not back yet waits for it
// with its user noted; a node that says no users takes none back for a
// returning ghost.
func TestTakeBackOwner(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := &Master{nodes: map[int]*node{}, routines: newRoutines(), log: log}
	n := newNode(0, false, saved{})
	m.nodes[0] = n
	own := returnedProc(m, n, 10, 1000)
	other := returnedProc(m, n, 11, 1001) // PID 11's process is user 1000's
	back, unclaimed := m.takeBack(n, []int{10, 11, 12}, []uint32{1000, 1000, 1002}, nil, log)
	if !slices.Equal(pids(back), []int{10}) {
		t.Errorf("taken back %v, want [10] (11 came back as another user)", pids(back))
	}
	if !slices.Equal(unclaimed, []int{12}) || n.unclaimed[12] != 1002 {
		t.Errorf("waiting for their ghosts %v (%v), want [12] of user 1002", unclaimed, n.unclaimed)
	}
	if !other.rs.dropped || own.rs.dropped {
		t.Errorf("dropped: PID 10 %v, PID 11 %v; want only 11", own.rs.dropped, other.rs.dropped)
	}

	n2 := newNode(1, false, saved{})
	// Under the lock: the first takeBack's endCopies may be reading
	// the table still.
	m.mu.Lock()
	m.nodes[1] = n2
	m.mu.Unlock()
	returnedProc(m, n2, 20, 0)
	back, unclaimed = m.takeBack(n2, []int{20, 21}, nil, nil, log)
	if len(back) != 0 || len(unclaimed) != 0 {
		t.Errorf("a node that says no users: taken back %v, waiting %v; want none", pids(back), unclaimed)
	}
}

// TestKeptCredsServeFiles: the users of processes a node kept for their
// ghosts get their files served with the user database's credentials
// while they wait, root never; once no such process waits, no more.
func TestKeptCredsServeFiles(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m := &Master{nodes: map[int]*node{}, routines: newRoutines(), log: log}
	n := newNode(0, false, saved{})
	m.nodes[0] = n
	// nobody (65534) is in every Debian's user database; so is root.
	creds := keptCreds([]uint32{65534, 0, 65534})
	if _, ok := creds[0]; ok {
		t.Errorf("keptCreds gives root's credentials")
	}
	if c, ok := creds[65534]; !ok || c.UID != 65534 || !slices.Contains(c.Groups, c.GID) {
		t.Fatalf("keptCreds(nobody) = %+v, %v", c, ok)
	}
	m.takeBack(n, []int{30, 31}, []uint32{65534, 0}, creds, log)
	if c, ok := m.credOnNode(n, 65534); !ok || c.UID != 65534 {
		t.Errorf("credOnNode(nobody) while its kept process waits: %+v, %v", c, ok)
	}
	if _, ok := m.credOnNode(n, 0); ok {
		t.Errorf("credOnNode(root) from a kept process: served")
	}
	if _, ok := m.credOnNode(n, 1000); ok {
		t.Errorf("credOnNode(1000), no process of it: served")
	}
	delete(n.unclaimed, 30) // its ghost came back (serveReturning)
	if _, ok := m.credOnNode(n, 65534); ok {
		t.Errorf("credOnNode(nobody) with no kept process waiting: served")
	}
}

// refusingConn is a node connection that refuses every channel and
// notes what was asked.
type refusingConn struct {
	ssh.Conn
	mu     sync.Mutex
	opened []string
}

func (c *refusingConn) OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	c.mu.Lock()
	c.opened = append(c.opened, name)
	c.mu.Unlock()
	return nil, nil, &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "test"}
}

// Wait: the connection never ends (sshconn.OpenChannel watches for that).
func (c *refusingConn) Wait() error { select {} }

func (c *refusingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.opened)
}

// TestTakeBackMoveCutShort: a master killed in a move between nodes. The
// node the process was moving to kept it, and its ghost names the old
// node, which comes back without it (the move had finished): the process
// is taken back on the new node, not lost. When the old node comes back
// with it instead (the move had not finished), the new node's copy is
// ended at once, not after claimWait.
func TestTakeBackMoveCutShort(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	setup := func() (*Master, *node, *node, *refusingConn) {
		m := &Master{nodes: map[int]*node{}, procs: map[int]*proc{}, routines: newRoutines(), log: log}
		from, to := newNode(0, false, saved{}), newNode(1, false, saved{})
		toConn := &refusingConn{}
		from.conn, to.conn = &ssh.ServerConn{Conn: &refusingConn{}}, &ssh.ServerConn{Conn: toConn}
		m.nodes[0], m.nodes[1] = from, to
		m.takeBack(to, []int{40}, []uint32{1000}, nil, log) // the new node first
		return m, from, to, toConn
	}

	m, from, to, _ := setup()
	p := returnedProc(m, from, 40, 1000)
	m.takeBack(from, nil, nil, nil, log) // back without it
	if to.procs[40] != p || from.procs[40] != nil || p.rank.node != 1 || p.rs.dropped {
		t.Errorf("move finished: process on node 1 %v, on node 0 %v, rank node %d, dropped %v; want it taken back on node 1",
			to.procs[40] != nil, from.procs[40] != nil, p.rank.node, p.rs.dropped)
	}
	if _, waits := to.unclaimed[40]; waits {
		t.Errorf("move finished: node 1 still waits for a ghost of 40")
	}

	m, from, to, toConn := setup()
	returnedProc(m, from, 40, 1000)
	back, _ := m.takeBack(from, []int{40}, []uint32{1000}, nil, log) // back with it
	if !slices.Equal(pids(back), []int{40}) {
		t.Fatalf("move not finished: taken back on node 0 %v, want [40]", pids(back))
	}
	deadline := time.Now().Add(5 * time.Second)
	for toConn.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	m.mu.Lock()
	_, waits := to.unclaimed[40]
	m.mu.Unlock()
	if waits || toConn.count() == 0 {
		t.Errorf("move not finished: node 1's copy waits %v, ended %v; want it ended at once", waits, toConn.count() > 0)
	}
}
