package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// spaceJob is a bpsh whose remote shell prints lines: the test reads
// them one by one.
type spaceJob struct {
	cmd   *exec.Cmd
	lines chan string
}

func startSpaceJob(t *testing.T, c *cluster, script string) *spaceJob {
	t.Helper()
	return startSpaceJobIn(t, c, script, nil)
}

// startHeldJob is startSpaceJobIn with a stdin the test holds: writing
// to (or closing) the returned end lets the job go on. It is closed when
// the test ends.
func startHeldJob(t *testing.T, c *cluster, script string) (*spaceJob, *os.File) {
	t.Helper()
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inW.Close() })
	j := startSpaceJobIn(t, c, script, in)
	in.Close()
	return j, inW
}

// startSpaceJobIn is startSpaceJob with the remote shell's stdin read
// from stdin.
func startSpaceJobIn(t *testing.T, c *cluster, script string, stdin io.Reader) *spaceJob {
	t.Helper()
	cmd, out := startOnNode0(t, c, stdin, "/bin/sh", "-c", script)
	j := &spaceJob{cmd: cmd, lines: make(chan string, 16)}
	go func() {
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				j.lines <- strings.TrimSpace(l)
			}
			if err != nil {
				close(j.lines)
				return
			}
		}
	}()
	return j
}

// startOnNode0 starts bpsh 0 argv..., its stdin read from stdin, its
// stderr the test's; the caller reads its stdout. It and its ghosts are
// killed and reaped when the test ends.
func startOnNode0(t *testing.T, c *cluster, stdin io.Reader, argv ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := c.command("bpsh", append([]string{"0"}, argv...)...)
	cmd.Stdin = stdin
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return startReaped(t, cmd), out
}

func (j *spaceJob) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-j.lines:
		if !ok {
			t.Fatal("the remote shell's output ended early")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("no line from the node in 20 s")
	}
	return ""
}

// pids parses a line of decimal PIDs.
func pids(t *testing.T, line string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(line) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, p)
	}
	return out
}

// ppid is a process's parent on this machine (the master), or 0 if it is
// gone.
func ppid(pid int) int {
	st, _ := procfs.ReadStat(pid)
	return st.PPid
}

// ghostExit watches a ghost on the master and returns its wait status
// once it has ended, whoever reaped it (PIDFD_INFO_EXIT, Linux 6.15).
func ghostExit(t *testing.T, pid int) func() syscall.WaitStatus {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("ghost %d: pidfd_open: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func() syscall.WaitStatus {
		t.Helper()
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 20000)
		for err == unix.EINTR {
			n, err = unix.Poll(pfd, 20000)
		}
		if n != 1 || err != nil {
			t.Fatalf("ghost %d: still there after 20 s (poll %d, %v)", pid, n, err)
		}
		// The status is there once the ghost's parent has reaped it.
		ws, err := pidfdExit(fd, 20*time.Second)
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			t.Skip("needs PIDFD_INFO_EXIT (Linux 6.15)")
		}
		if err != nil {
			t.Fatalf("ghost %d ended: %v", pid, err)
		}
		return ws
	}
}

// TestSpaceDescendants: what a remote process forks on its node has a
// ghost on the master, a child of its parent's ghost, with the PID it has
// on the node; a signal to that ghost reaches that process only; its end
// reaches its ghost with its status while its parent on the node still
// reaps it; threads make no ghost; an orphan keeps its ghost until it
// ends.
func TestSpaceDescendants(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)

	t.Run("tree, signals and statuses", func(t *testing.T) {
		j := startSpaceJob(t, c, `sleep 201 & A=$!; sleep 202 & B=$!; echo $$ $A $B
			wait $A; echo A=$?; sh -c 'exit 7' & C=$!; wait $C; echo C=$?; wait $B; echo B=$?`)
		g := ghostsOf(t, c, pids(t, j.line(t))...)
		sh, a, b := g[0], g[1], g[2]
		if got := children(j.cmd.Process.Pid); len(got) != 1 || got[0] != sh {
			t.Fatalf("bpsh's children %v, want the shell's ghost %d", got, sh)
		}
		for _, d := range []int{a, b} {
			waitFor(t, fmt.Sprintf("ghost %d", d), func() bool { return ppid(d) == sh })
		}
		// bpstat -p lists each with its parent (PID Node PPID NodePID Command).
		listed := map[int]int{}
		for _, l := range strings.Split(c.run("", "bpstat", "-p").stdout, "\n")[1:] {
			if f := strings.Fields(l); len(f) >= 5 {
				pid, _ := strconv.Atoi(f[0])
				listed[pid], _ = strconv.Atoi(f[2])
			}
		}
		for _, d := range []int{a, b} {
			if listed[d] != sh {
				t.Errorf("bpstat -p: %d has parent %d, want the shell's ghost %d", d, listed[d], sh)
			}
		}
		exitA := ghostExit(t, a)
		if err := syscall.Kill(a, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if l := j.line(t); l != "A=143" {
			t.Errorf("the shell's wait for the signalled sleep: %q, want A=143", l)
		}
		if ws := exitA(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("the sleep's ghost: %#x, want killed by SIGTERM", uint32(ws))
		}
		if ppid(b) != sh {
			t.Errorf("the other sleep's ghost %d is gone: the signal reached more than one process", b)
		}
		// A child that exits 7 at once: its ghost exits 7, and the shell
		// still gets the 7.
		if l := j.line(t); l != "C=7" {
			t.Errorf("the shell's wait for its child: %q, want C=7", l)
		}
		exitB := ghostExit(t, b)
		syscall.Kill(b, syscall.SIGKILL)
		if l := j.line(t); l != "B=137" {
			t.Errorf("the shell's wait for the killed sleep: %q, want B=137", l)
		}
		if ws := exitB(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the killed sleep's ghost: %#x, want killed by SIGKILL", uint32(ws))
		}
		if err := j.cmd.Wait(); err != nil {
			t.Errorf("bpsh: %v", err)
		}
		c.waitNoProcs()
	})

	t.Run("exit status reaches the ghost", func(t *testing.T) {
		j := startSpaceJob(t, c, `sh -c 'sleep 1; exit 9' & A=$!; echo $A $$; wait $A; echo A=$?`)
		p := ghostsOf(t, c, pids(t, j.line(t))...)
		a := p[0]
		exitA := ghostExit(t, a)
		if ppid(a) != p[1] {
			t.Errorf("ghost %d: parent %d, want the shell's ghost %d", a, ppid(a), p[1])
		}
		if l := j.line(t); l != "A=9" {
			t.Errorf("the shell's wait: %q, want A=9", l)
		}
		if ws := exitA(); !ws.Exited() || ws.ExitStatus() != 9 {
			t.Errorf("the child's ghost: %#x, want exit 9", uint32(ws))
		}
		j.cmd.Wait()
		c.waitNoProcs()
	})

	t.Run("threads make no ghost", func(t *testing.T) {
		j := startSpaceJob(t, c, `python3 -c '
import os, threading, time
ts = [threading.Thread(target=time.sleep, args=(3,)) for _ in range(4)]
[t.start() for t in ts]
print(os.getpid(), len(os.listdir("/proc/self/task")), flush=True)
[t.join() for t in ts]'`)
		p := pids(t, j.line(t))
		py, tasks := ghostsOf(t, c, p[0])[0], p[1]
		if tasks < 5 {
			t.Fatalf("python has %d threads, want 5", tasks)
		}
		procs, err := c.client().Procs()
		if err != nil {
			t.Fatal(err)
		}
		var have []int
		for _, pr := range procs {
			have = append(have, pr.NodePID)
		}
		if len(procs) != 2 || ppid(py) == 0 {
			t.Errorf("the master's table has node PIDs %v, want the shell's and python's (%d) only", have, py)
		}
		j.cmd.Wait()
		c.waitNoProcs()
	})

	t.Run("an orphan keeps its ghost", func(t *testing.T) {
		j := startSpaceJob(t, c, `sh -c 'sleep 2; exit 5' >/dev/null 2>&1 & echo $! $$`)
		p := pids(t, j.line(t))
		// The shell may be gone already: its number on the node is
		// its ghost's (a launched process's is, unless taken).
		a, sh := ghostsOf(t, c, p[0])[0], p[1]
		exitA := ghostExit(t, a)
		if err := j.cmd.Wait(); err != nil {
			t.Fatalf("bpsh: %v", err)
		}
		// The parent is gone; its child runs on, and so does its ghost.
		if pp := ppid(a); pp == 0 || pp == sh {
			t.Errorf("the orphan's ghost %d: parent %d after its parent %d ended", a, pp, sh)
		}
		if ws := exitA(); !ws.Exited() || ws.ExitStatus() != 5 {
			t.Errorf("the orphan's ghost: %#x, want exit 5", uint32(ws))
		}
		waitFor(t, "the orphan's ghost reaped", func() bool { return ppid(a) == 0 })
		c.waitNoProcs()
	})
}

// TestSpaceAfterMove: a process moved to another node (bproc_move) keeps
// its filter there: what it forks has a ghost, a child of its own, that
// ends with the child's status, which the moved process reaps as well.
func TestSpaceAfterMove(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 2)
	bin := testProgram(t, "spacemove")
	j := startSpaceJob(t, c, "exec "+bin)
	p := pids(t, j.line(t))
	if len(p) != 2 {
		t.Fatalf("spacemove said %v, want its PID and its child's", p)
	}
	p = ghostsOf(t, c, p...)
	moved, child := p[0], p[1]
	exit := ghostExit(t, child)
	if pp := ppid(child); pp != moved {
		t.Errorf("the moved process's child %d: ghost's parent %d, want the moved process's ghost %d", child, pp, moved)
	}
	if l := j.line(t); l != "child=4" {
		t.Errorf("spacemove reaped %q, want child=4", l)
	}
	if ws := exit(); !ws.Exited() || ws.ExitStatus() != 4 {
		t.Errorf("the child's ghost: %#x, want exit 4", uint32(ws))
	}
	j.cmd.Wait()
	c.waitNoProcs()
}

// spaceOn makes sure the process space is on (it is by default) for the
// masters a test starts, whatever BPROC_SPACE the test runs with.
func spaceOn(t *testing.T) {
	t.Helper()
	t.Setenv("BPROC_SPACE", "1")
}

// ghostsOf waits for the ghosts of processes of the space on the
// cluster's nodes, named by their PIDs there, and returns their PIDs
// here: the same numbers where the node could give them (the master's
// table maps them otherwise).
func ghostsOf(t *testing.T, c *cluster, nodePIDs ...int) []int {
	t.Helper()
	out := make([]int, len(nodePIDs))
	waitFor(t, fmt.Sprintf("ghosts of node PIDs %v", nodePIDs), func() bool {
		procs, err := c.client().Procs()
		if err != nil {
			t.Fatal(err)
		}
		ghost := map[int]int{}
		for _, pr := range procs {
			ghost[pr.NodePID] = pr.PID
		}
		for i, n := range nodePIDs {
			if out[i] = ghost[n]; out[i] == 0 {
				return false
			}
		}
		return true
	})
	for i, n := range nodePIDs {
		if out[i] != n {
			t.Logf("node PID %d has ghost %d (its number was taken on the node)", n, out[i])
		}
	}
	return out
}
