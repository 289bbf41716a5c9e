package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/wire"
)

// jobOf asks the cluster for a run of argv on nodes with no stdio, through
// the Go API, so that the ghosts are this test's children. Its events are
// drained (the master blocks on a job no one reads).
func jobOf(t *testing.T, c *cluster, nodes []int, argv ...string) *apiclient.Job {
	t.Helper()
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		t.Fatal(err)
	}
	job, err := cl.Run(localapi.Run{Nodes: nodes, Command: wire.Command{Path: "/bin/" + argv[0], Argv: argv,
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoIO: true}})
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { job.Close() })
	go func() {
		for range job.Events {
		}
	}()
	return job
}

// ghosts are ghosts this test started; cleanup kills and reaps those it
// did not reap, so a failed test leaves none (nor their remote processes).
type ghosts struct {
	t      *testing.T
	pids   []int
	status map[int]unix.WaitStatus
}

func newGhosts(t *testing.T) *ghosts {
	g := &ghosts{t: t, status: map[int]unix.WaitStatus{}}
	t.Cleanup(func() {
		for _, pid := range g.pids {
			if _, ok := g.status[pid]; !ok {
				syscall.Kill(pid, syscall.SIGKILL)
				syscall.Wait4(pid, nil, 0, nil)
			}
		}
	})
	return g
}

// start starts ranks of job.
func (g *ghosts) start(job *apiclient.Job, ranks ...int) []int {
	g.t.Helper()
	var pids []int
	for _, i := range ranks {
		pid, err := job.StartGhost(i, [3]*os.File{})
		if err != nil {
			g.t.Fatalf("StartGhost(%d) = %v", i, err)
		}
		g.pids = append(g.pids, pid)
		pids = append(pids, pid)
	}
	return pids
}

// wait reaps pids (polling each: wait4(-1) would take the master's
// status from its exec.Cmd) and returns how they ended.
func (g *ghosts) wait(pids ...int) []unix.WaitStatus {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := 0
		for _, pid := range pids {
			if _, ok := g.status[pid]; ok {
				continue
			}
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if err != nil && !errors.Is(err, unix.EINTR) {
				g.t.Fatalf("wait4(%d) = %v", pid, err)
			}
			if got == pid {
				g.status[pid] = ws
			} else {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d of ghosts %v still alive after 30 s", left, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := make([]unix.WaitStatus, len(pids))
	for i, pid := range pids {
		out[i] = g.status[pid]
	}
	return out
}

func sameMemory(t *testing.T, a, b int) bool {
	t.Helper()
	c, err := ghost.CompareMemory(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return c == 0
}

// nodePID is a process's PID in its innermost PID namespace (NSpid's last
// field): for a remote process on a local node, the PID it has there.
func nodePID(pid int) int {
	st, _ := procfs.ReadStatus(pid)
	return st.NSPid
}

// remotes maps each ghost of argv to its remote process (found in this
// machine's process table: local nodes share it) by the PID the remote
// has on its node, which must be its ghost's. Processes that are neither
// a ghost in pids nor the remote of one fail the test.
func remotes(t *testing.T, pids []int, argv ...string) map[int]int {
	t.Helper()
	isGhost := map[int]bool{}
	for _, p := range pids {
		isGhost[p] = true
	}
	out := map[int]int{}
	for _, p := range pgrep(argv...) {
		if isGhost[p] {
			continue
		}
		n := nodePID(p)
		if n == 0 && !alive(p) {
			continue // ended since pgrep read its cmdline: no remote now
		}
		if !isGhost[n] || out[n] != 0 {
			t.Errorf("process %d (PID %d on its node) runs %q: not the remote of one ghost of %v", p, n, argv, pids)
			continue
		}
		out[n] = p
	}
	return out
}

// TestJobGhostsShare runs a job's ranks through the Go API: their ghosts
// share one address space, show the remote argv, have their remote
// process's PID, and each signal and death reaches only the ghost's own
// remote process. A template that dies leaves the others running and
// later StartGhost calls working, in a new address space.
func TestJobGhostsShare(t *testing.T) {
	c := startCluster(t, 2)
	argv := []string{"sleep", "300.25"}
	job := jobOf(t, c, []int{0, 1, 0, 1, 0, 1, 0, 1}, argv...)
	g := newGhosts(t)
	pids := g.start(job, 0, 1, 2, 3, 4, 5)

	for i, pid := range pids {
		if i > 0 && !sameMemory(t, pids[0], pid) {
			t.Errorf("rank %d's ghost %d does not share rank 0's (%d) address space", i, pid, pids[0])
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || string(b) != "sleep\x00300.25\x00" {
			t.Errorf("ghost %d cmdline = %q, %v, want the remote argv", pid, b, err)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || string(b) != "sleep\n" {
			t.Errorf("ghost %d comm = %q, %v, want sleep", pid, b, err)
		}
	}
	var rem map[int]int
	waitFor(t, "6 remote sleeps", func() bool { rem = remotes(t, pids, argv...); return len(rem) == 6 })
	var list []string
	for _, pid := range pids {
		list = append(list, strconv.Itoa(pid))
	}
	ps := hostOutput(t, "ps", "-o", "pid=,args=", "-p", strings.Join(list, ","))
	for _, pid := range pids {
		if !strings.Contains(ps, fmt.Sprintf("%d sleep 300.25\n", pid)) {
			t.Errorf("ps shows no %d sleep 300.25:\n%s", pid, ps)
		}
	}

	// SIGTERM to rank 2's ghost: its sleep dies of it, and so then does
	// the ghost; SIGKILL to rank 3's: the master kills its sleep.
	syscall.Kill(pids[2], syscall.SIGTERM)
	syscall.Kill(pids[3], syscall.SIGKILL)
	ws := g.wait(pids[2], pids[3])
	if !ws[0].Signaled() || ws[0].Signal() != syscall.SIGTERM {
		t.Errorf("ghost sent SIGTERM: wait status %#x, want killed by SIGTERM", uint32(ws[0]))
	}
	if !ws[1].Signaled() || ws[1].Signal() != syscall.SIGKILL {
		t.Errorf("ghost sent SIGKILL: wait status %#x, want killed by SIGKILL", uint32(ws[1]))
	}
	live := []int{pids[0], pids[1], pids[4], pids[5]}
	waitFor(t, "the remote sleeps of the two ghosts gone", func() bool { return len(remotes(t, pids, argv...)) == 4 })
	for pid, r := range remotes(t, pids, argv...) {
		if pid == pids[2] || pid == pids[3] || r != rem[pid] {
			t.Errorf("remote of ghost %d: %d, want the same %d as before, of a live ghost", pid, r, rem[pid])
		}
	}

	// The template (rank 0's ghost) killed: the job's other ghosts are
	// untouched, and the next ranks start in a new address space.
	syscall.Kill(pids[0], syscall.SIGKILL)
	if ws := g.wait(pids[0]); !ws[0].Signaled() || ws[0].Signal() != syscall.SIGKILL {
		t.Errorf("template sent SIGKILL: wait status %#x", uint32(ws[0]))
	}
	more := g.start(job, 6, 7)
	if sameMemory(t, more[0], pids[1]) || !sameMemory(t, more[0], more[1]) {
		t.Errorf("ranks started after the template died: %d and %d share %v and %v with rank 1's %d, want a new address space of their own",
			more[0], more[1], sameMemory(t, more[0], pids[1]), sameMemory(t, more[1], pids[1]), pids[1])
	}
	live = append(live[1:], more...)
	waitFor(t, "5 remote sleeps", func() bool { return len(remotes(t, live, argv...)) == 5 })
	for _, pid := range live {
		syscall.Kill(pid, syscall.SIGUSR1)
	}
	for i, ws := range g.wait(live...) {
		if !ws.Signaled() || ws.Signal() != syscall.SIGUSR1 {
			t.Errorf("ghost %d sent SIGUSR1: wait status %#x, want killed by SIGUSR1", live[i], uint32(ws))
		}
	}
	c.waitNoProcs()
}

// hostOutput runs a command of this machine and returns its output.
func hostOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// rankScript ends rank r with exit r%7, but ranks 9 and 19 mod 20 die by
// SIGTERM and SIGSEGV (a core-dumping one) of their own.
const rankScript = `r=${BPROC_RANK#"${BPROC_RANK%%[!0]*}"}; r=${r:-0}
case $((r % 20)) in 9) kill -TERM $$;; 19) kill -SEGV $$;; esac
exit $((r % 7))`

// TestJobStatuses runs 100 ranks, 50 on each of two nodes, that end at
// once (so the template may be gone before the last ranks start): every
// rank's ghost ends with exactly its remote status.
func TestJobStatuses(t *testing.T) {
	c := startCluster(t, 2)
	const n = 100
	nodes := make([]int, n)
	ranks := make([]int, n)
	for i := range nodes {
		nodes[i], ranks[i] = i*2/n, i
	}
	job := jobOf(t, c, nodes, "sh", "-c", rankScript)
	g := newGhosts(t)
	pids := g.start(job, ranks...)
	for i, ws := range g.wait(pids...) {
		switch i % 20 {
		case 9:
			if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("rank %d: wait status %#x, want killed by SIGTERM", i, uint32(ws))
			}
		case 19:
			if !ws.Signaled() || ws.Signal() != syscall.SIGSEGV || ws.CoreDump() {
				t.Errorf("rank %d: wait status %#x, want killed by SIGSEGV, no core", i, uint32(ws))
			}
		default:
			if !ws.Exited() || ws.ExitStatus() != i%7 {
				t.Errorf("rank %d: wait status %#x, want exit %d", i, uint32(ws), i%7)
			}
		}
	}
	c.waitNoProcs()

	// The same through bpsh: its status is the largest, and it names the
	// ranks killed by signals.
	r := c.run("", "bpsh", "--per-node", "50", "0-1", "sh", "-c", `r=${BPROC_RANK#"${BPROC_RANK%%[!0]*}"}; exit $((${r:-0} % 7))`)
	if r.code != 6 || r.stderr != "" {
		t.Errorf("bpsh --per-node 50 0-1 exit rank%%7: exit %d, stderr %q, want 6 and nothing", r.code, r.stderr)
	}
	r = c.run("", "bpsh", "--per-node", "50", "0-1", "sh", "-c", rankScript)
	if r.code != 128+15 || strings.Count(r.stderr, "killed by SIGSEGV") != 5 || strings.Count(r.stderr, "killed by SIGTERM") != 5 {
		t.Errorf("bpsh --per-node 50 0-1 with deaths: exit %d, stderr %q, want 143 (SIGTERM's) and 5 lines for each signal", r.code, r.stderr)
	}
	c.waitNoProcs()
}
