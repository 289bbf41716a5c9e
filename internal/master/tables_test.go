package master

import (
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
	"golang.org/x/sys/unix"
)

// TestProcTablesShrink: once most of a peak of processes have ended, the
// master's tables (its own, the node's, the job's) give back their room.
// Go's maps never shrink: 20,000 processes, then 10, kept 1.5 MB.
func TestProcTablesShrink(t *testing.T) {
	const peak, left = 20000, 10
	// One ghost connection for all, its ghost gone: each end's
	// closeGhost finds it hung up.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "ghost")
	gc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	log := slog.New(slog.DiscardHandler)
	m := &Master{nodes: map[int]*node{}, procs: map[int]*proc{}, routines: newRoutines(), log: log}
	n := newNode(0, false, saved{})
	m.nodes[0] = n
	j := &job{c: &client{w: io.Discard, log: log}, cred: localapi.Cred{PID: 4242}}
	all := make([]*proc, peak) // not counted: made before the heap is measured
	var ps []*proc             // those left
	// Twice, on fresh tables, measuring the second. The runtime keeps
	// the descriptor of every goroutine it ever ran at once (each end's
	// closeGhost runs one): the first run makes many, its ends not
	// waited for; in the second each ends before the next end, and
	// takes one of those.
	run := func(second bool) {
		m.procs, n.procs, j.procs = map[int]*proc{}, map[int]*proc{}, map[*proc]struct{}{}
		m.procsPeak, n.procsPeak, j.peak = 0, 0, 0
		for i := range all {
			p := &proc{m: m, pid: 100000 + i, rank: &rank{job: j}, job: j, ghost: gc.(*net.UnixConn), release: func() {}, first: n}
			m.procs[p.pid], n.procs[p.pid], j.procs[p] = p, p, struct{}{}
			all[i] = p
		}
		for _, p := range all[:peak-left] {
			p.end()
			if second {
				runtime.Gosched()
			}
		}
		clear(all[:peak-left]) // the ended ones are garbage
		ps = all[peak-left:]
	}
	run(false)
	m.procs, n.procs, j.procs = nil, nil, nil
	clear(all)
	base := liveHeap()
	run(true)
	kept := liveHeap() - base
	t.Logf("%d B of heap kept by %d processes of a peak of %d", kept, len(ps), peak)
	if kept > 400<<10 {
		t.Errorf("the tables of %d processes, once %d, hold %d kB, want under 400 kB", len(ps), peak, kept>>10)
	}
	if len(m.procs) != left || len(n.procs) != left || len(j.procs) != left {
		t.Errorf("tables of %d, %d, %d processes, want %d each", len(m.procs), len(n.procs), len(j.procs), left)
	}
	for _, p := range ps {
		if m.procs[p.pid] != p || n.procs[p.pid] != p {
			t.Errorf("process %d lost from the tables", p.pid)
		}
		if _, ok := j.procs[p]; !ok {
			t.Errorf("process %d lost from its job", p.pid)
		}
	}
}

// TestGhostWatchShrinks: the ghost watch's table of handlers gives back
// its room once most ghosts are gone.
func TestGhostWatchShrinks(t *testing.T) {
	const peak, left = 4096, 10
	w, err := newGhostWatch()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	fds := make([]int, 0, 2*peak) // not counted: made before the heap is measured
	ids := make([]uint64, 0, peak)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	base := liveHeap()
	for range peak {
		var p [2]int // a pipe each, as each ghost's socket
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, p[0], p[1])
		id, err := w.add(p[0], func() {})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := range peak - left {
		w.remove(ids[i], fds[2*i])
	}
	kept := liveHeap() - base
	t.Logf("%d B of heap kept by the watch of %d ghosts of a peak of %d", kept, left, peak)
	if kept > 32<<10 {
		t.Errorf("the ghost watch of %d ghosts, once %d, holds %d kB, want under 32 kB", left, peak, kept>>10)
	}
	if len(w.ready) != left {
		t.Errorf("the ghost watch holds %d handlers, want %d", len(w.ready), left)
	}
}
