package integration

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// spaceTreeSize is the stress test's tree: big enough that forks of
// the whole tree race each other and bpslave's threads for PIDs, small
// enough for a minute on a shared two-core machine (make bench runs
// 2,000; see internal/bench).
const spaceTreeSize = 2000

// TestSpaceStress: a random tree of processes on a node (testdata/
// spacetree.c) that fork, double fork (orphans), setsid, and receive
// signals from their ghosts. Once the tree is in place, the master's
// table of the node and the node's own processes are the same set with
// the same parents; every status reaches its ghost (no ghost ends
// otherwise than its process) and every parent on the node; nothing is
// left on either side.
func TestSpaceStress(t *testing.T) {
	spaceOn(t)
	n := spaceTreeSize
	// BPROC_SPACE_STRESS=10000 measures a bigger tree by hand.
	if v, err := strconv.Atoi(os.Getenv("BPROC_SPACE_STRESS")); err == nil && v > 1 {
		n = v
	}
	runSpaceTree(t, n, time.Now().UnixNano())
}

// runSpaceTree runs one tree of n processes, seeded with seed.
func runSpaceTree(t *testing.T, n int, seed int64) {
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	c := startCluster(t, 1, "--no-diskless")
	slave := c.nodePID(t, 0)
	bin := testProgram(t, "spacetree")
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	start := time.Now()
	cmd, out := startOnNode0(t, c, in, bin, strconv.Itoa(n), strconv.Itoa(int(seed%1000000)))
	in.Close()
	// The program's lines: "p PID PPID CODE" of each process, "quiet",
	// "bad=K reaped=M", "done".
	codes := map[int]int{}
	quiet, done := make(chan struct{}), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var summary string
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 4 && f[0] == "p":
				pid, _ := strconv.Atoi(f[1])
				code, _ := strconv.Atoi(f[3])
				codes[pid] = code
			case sc.Text() == "quiet":
				close(quiet)
			case strings.HasPrefix(sc.Text(), "bad="):
				summary = sc.Text()
			case sc.Text() == "done":
			default:
				t.Errorf("spacetree: %s", sc.Text())
			}
		}
		done <- summary
	}()
	select {
	case <-quiet:
	case <-time.After(time.Duration(n) * 60 * time.Millisecond):
		t.Fatalf("the tree of %d was not in place after %v", n, time.Duration(n)*60*time.Millisecond)
	}
	built := time.Since(start)
	main := nodePIDOf(t, c, bpshChild(t, cmd.Process.Pid))

	// The same set, the same parents.
	var ghosts map[int]int // node PID -> ghost PID
	var diff string
	deadline := time.Now().Add(20 * time.Second)
	for {
		var node, master map[int]int
		node, master, ghosts = spaceViews(t, c, slave, main, codes)
		if diff = diffViews(node, master); diff == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if diff != "" {
		t.Fatalf("the master's table and the node differ (node PID: node's parent / master's parent):\n%s", diff)
	}
	kept := 0
	for np, g := range ghosts {
		if np == g {
			kept++
		}
	}
	t.Logf("%d processes in place in %v; %d of them (%.1f%%) have their ghost's PID", len(ghosts), built.Round(time.Millisecond), kept, 100*float64(kept)/float64(len(ghosts)))

	// Hold every ghost, then signal some.
	pidfds := map[int]int{}
	for np, g := range ghosts {
		fd, err := unix.PidfdOpen(g, 0)
		if err != nil {
			t.Fatalf("ghost %d of node PID %d: pidfd_open: %v", g, np, err)
		}
		pidfds[np] = fd
	}
	defer func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}()
	node, _, _ := spaceViews(t, c, slave, main, codes)
	parents := map[int]bool{}
	for _, pp := range node {
		parents[pp] = true
	}
	want := map[int]syscall.Signal{} // node PID -> the signal it dies of
	var stopped []int
	for _, np := range sortedKeys(ghosts) {
		g := ghosts[np]
		if np == main {
			continue
		}
		switch r := rng.Intn(100); {
		case r < 10:
			syscall.Kill(g, syscall.SIGUSR1)
		case r < 15:
			syscall.Kill(g, syscall.SIGSTOP)
			stopped = append(stopped, np)
		case r < 20 && !parents[np]:
			sig := syscall.SIGTERM
			if r < 18 {
				sig = syscall.SIGKILL
			}
			syscall.Kill(g, sig)
			want[np] = sig
		}
	}
	// SIGSTOP stops the ghost before it can relay it (ghost/doc.go):
	// only the SIGCONT reaches the node. Neither may change a status.
	time.Sleep(100 * time.Millisecond)
	for _, np := range stopped {
		syscall.Kill(ghosts[np], syscall.SIGCONT)
	}
	fmt.Fprintln(inW, "go")
	inW.Close()
	var summary string
	select {
	case summary = <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("the tree did not end in 120 s")
	}
	if !strings.HasPrefix(summary, "bad=0 ") {
		t.Errorf("spacetree: %q, want no bad status", summary)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("bpsh: %v", err)
	}

	// Each ghost ended as its process did.
	wrong := 0
	for _, np := range sortedKeys(pidfds) {
		ws, err := pidfdExit(pidfds[np], 30*time.Second)
		if err != nil {
			t.Fatalf("ghost %d of node PID %d: %v", ghosts[np], np, err)
		}
		ok := ws.Exited() && ws.ExitStatus() == codes[np]
		if sig, signalled := want[np]; signalled {
			ok = ws.Signaled() && ws.Signal() == sig
		}
		if np == main {
			ok = ws.Exited() && ws.ExitStatus() == 0
		}
		if !ok {
			wrong++
			if wrong <= 10 {
				t.Errorf("ghost %d of node PID %d: status %#x, want exit %d or signal %v", ghosts[np], np, uint32(ws), codes[np], want[np])
			}
		}
	}
	t.Logf("%d statuses, %d wrong or lost; %d signalled to death, %d stopped and continued", len(pidfds), wrong, len(want), len(stopped))
	c.waitNoProcs()
	if left, _ := nodeProcs(t, slave); len(left) > 0 {
		for np := range left {
			if _, ok := codes[np]; ok || np == main {
				t.Errorf("node PID %d is left on the node", np)
			}
		}
	}
}

// nodePIDOf is ghost's PID on its node, from the master's table.
func nodePIDOf(t *testing.T, c *cluster, ghost int) int {
	t.Helper()
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.PID == ghost {
			return p.NodePID
		}
	}
	t.Fatalf("ghost %d is not in the master's table", ghost)
	return 0
}

// bpshChild is the ghost of bpsh's process, its child.
func bpshChild(t *testing.T, bpsh int) int {
	t.Helper()
	kids := children(bpsh)
	if len(kids) != 1 {
		t.Fatalf("bpsh's children %v, want one ghost", kids)
	}
	return kids[0]
}

// spaceViews returns the tree as the node has it and as the master's
// table has it: node PID -> its parent's node PID (0: a parent outside
// the space), and the table's node PID -> ghost PID. main is the tree's
// top (bpsh's process); tree holds the node PIDs of its processes.
func spaceViews(t *testing.T, c *cluster, slave, main int, tree map[int]int) (node, master, ghosts map[int]int) {
	t.Helper()
	all, _ := nodeProcs(t, slave)
	node = map[int]int{}
	var add func(int)
	add = func(np int) {
		if _, ok := node[np]; ok {
			return
		}
		pp := all[np]
		if pp == 1 || pp == 0 {
			pp = 0
		}
		node[np] = pp
	}
	// The tree: main's descendants, and the orphans the program named.
	kids := map[int][]int{}
	for np, pp := range all {
		kids[pp] = append(kids[pp], np)
	}
	var walk func(int)
	walk = func(np int) {
		add(np)
		for _, k := range kids[np] {
			walk(k)
		}
	}
	if _, ok := all[main]; ok {
		walk(main)
	}
	for np := range tree {
		if _, ok := all[np]; ok {
			walk(np)
		}
	}
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	ghosts = map[int]int{}
	byGhost := map[int]int{}
	for _, p := range procs {
		ghosts[p.NodePID] = p.PID
		byGhost[p.PID] = p.NodePID
	}
	master = map[int]int{}
	for np, g := range ghosts {
		master[np] = byGhost[ppid(g)] // 0 unless the parent is a ghost
	}
	return node, master, ghosts
}

// diffViews lists what differs, one line each.
func diffViews(node, master map[int]int) string {
	var b strings.Builder
	for _, np := range sortedKeys(node) {
		if mp, ok := master[np]; !ok {
			fmt.Fprintf(&b, "%d: %d / no ghost\n", np, node[np])
		} else if mp != node[np] {
			fmt.Fprintf(&b, "%d: %d / %d\n", np, node[np], mp)
		}
	}
	for _, np := range sortedKeys(master) {
		if _, ok := node[np]; !ok {
			fmt.Fprintf(&b, "%d: not on the node / %d\n", np, master[np])
		}
	}
	return b.String()
}

// nodeProcs is the processes of the node's PID namespace: node PID ->
// parent's node PID (0 for a parent outside it), and node PID -> PID
// here.
func nodeProcs(t *testing.T, slave int) (map[int]int, map[int]int) {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", slave))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	hostToNode := map[int]int{}
	hostParent := map[int]int{}
	for _, e := range ents {
		hp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", hp)); err != nil || l != ns {
			continue
		}
		st, err := procfs.ReadStatus(hp)
		if err != nil {
			continue
		}
		hostToNode[hp], hostParent[hp] = st.NSPid, st.PPid
	}
	out, host := map[int]int{}, map[int]int{}
	for hp, np := range hostToNode {
		out[np] = hostToNode[hostParent[hp]]
		host[np] = hp
	}
	return out, host
}

// pidfdExit waits for the process of pidfd to end and be reaped, and
// returns its status.
func pidfdExit(fd int, wait time.Duration) (syscall.WaitStatus, error) {
	deadline := time.Now().Add(wait)
	for {
		ws, ended, err := pidfdStatus(fd)
		if err != nil || ended {
			return ws, err
		}
		if time.Now().After(deadline) {
			return 0, errors.New("not ended and reaped in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidfdStatus is the status of pidfd's process once it has ended and
// been reaped, whoever reaped it (PIDFD_INFO_EXIT, Linux 6.15); ended
// is false before.
func pidfdStatus(fd int) (ws syscall.WaitStatus, ended bool, err error) {
	var info unix.PidfdInfo
	info.Mask = unix.PIDFD_INFO_EXIT
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PIDFD_GET_INFO, uintptr(unsafe.Pointer(&info))); e != 0 {
		if e == unix.ESRCH {
			// Seen once in a full run: the process gone and its exit
			// information not (yet) there. Asked again until the
			// caller's deadline.
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("PIDFD_GET_INFO: %w", e)
	}
	if info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return 0, false, nil
	}
	return syscall.WaitStatus(info.Exit_code), true, nil
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
