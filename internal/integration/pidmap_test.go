package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestPIDTakenOnNode: when the ghost's PID is taken on the node, the
// process runs there with another PID; the master keeps the mapping
// (its process table has both), a signal to the ghost still reaches the
// process, and wait() still gets its status.
//
// The PID is made taken: a process of the node's own is given it (the
// node's ns_last_pid), and then the ghost too (this machine's).
func TestPIDTakenOnNode(t *testing.T) {
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	c := startCluster(t, 1, "--no-diskless")
	slave := c.nodePID(t, 0)
	for attempt := 1; ; attempt++ {
		if attempt > 20 {
			t.Fatal("the ghost never got the PID wanted: this machine makes processes too fast")
		}
		want := freePID(t)
		holder := holdNodePID(t, slave, want)
		ghost, nodePID, job, out, ok := startAt(t, c, want)
		if !ok {
			holder()
			continue
		}
		defer job.Close()
		if nodePID == ghost {
			t.Fatalf("the process has PID %d on the node, which its own process holds", nodePID)
		}
		var procs []localapi.Proc
		cl, err := apiclient.Dial(c.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if procs, err = cl.Procs(); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range procs {
			if p.PID == ghost {
				found = p.NodePID == nodePID
			}
		}
		if !found {
			t.Errorf("the master's table %+v lacks ghost %d as node PID %d", procs, ghost, nodePID)
		}
		if err := syscall.Kill(ghost, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(ghost, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		if !ws.Exited() || ws.ExitStatus() != 7 {
			t.Errorf("ghost %d: %v, want exit 7 from the trap of SIGUSR1", ghost, ws)
		}
		out.Close()
		holder()
		t.Logf("attempt %d: ghost %d runs as %d on the node", attempt, ghost, nodePID)
		return
	}
}

// freePID is a PID no process of this machine has, some way ahead of the
// last one given.
func freePID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	max := 32768
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		max, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for p := last + 500; ; p++ {
		if p >= max-1 {
			p = 1000
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); os.IsNotExist(err) {
			return p
		}
	}
}

// holdNodePID makes a process of node (its bpslave's PID namespace)
// with PID pid there; the returned func ends it.
func holdNodePID(t *testing.T, slave, pid int) func() {
	t.Helper()
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(slave), "-p", "--", "/bin/sh", "-c",
		fmt.Sprintf("echo %d > /proc/sys/kernel/ns_last_pid; sleep 120 & echo $!; wait", pid-1))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // nsenter, its shell and the sleep: one group to kill
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	t.Cleanup(stop)
	line, _ := bufio.NewReader(out).ReadString('\n')
	if got, _ := strconv.Atoi(strings.TrimSpace(line)); got != pid {
		t.Logf("the node's process got PID %q, not %d", strings.TrimSpace(line), pid)
	}
	return stop
}

// startAt starts `sh` on node 0 through the Go API with this machine's
// next PID made want, and reads the PID the shell has on the node. ok is
// false when the ghost got another PID (something else took want).
func startAt(t *testing.T, c *cluster, want int) (ghost, nodePID int, job *apiclient.Job, out *os.File, ok bool) {
	t.Helper()
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		t.Fatal(err)
	}
	job, err = cl.Run(localapi.Run{Nodes: []int{0}, Command: wire.Command{Path: "/bin/sh", Dir: "/", Env: os.Environ(),
		Argv: []string{"sh", "-c", `trap 'exit 7' USR1; echo $$; while :; do sleep 0.05; done`}}})
	if err != nil {
		t.Fatal(err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(want-1)), 0); err != nil {
		t.Fatal(err)
	}
	ghost, err = job.StartGhost(0, [3]*os.File{null, wr, os.Stderr})
	wr.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(ghost, syscall.SIGKILL); syscall.Wait4(ghost, nil, 0, nil) })
	if ghost != want {
		syscall.Kill(ghost, syscall.SIGKILL)
		syscall.Wait4(ghost, nil, 0, nil)
		rd.Close()
		job.Close()
		return 0, 0, nil, nil, false
	}
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(rd).ReadString('\n')
		lines <- strings.TrimSpace(l)
	}()
	select {
	case l := <-lines:
		nodePID, _ = strconv.Atoi(l)
	case <-time.After(20 * time.Second):
		t.Fatalf("the shell on node 0 said nothing in 20 s")
	}
	return ghost, nodePID, job, rd, true
}
