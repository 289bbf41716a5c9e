package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/pdeathsig"
)

// A master killed with SIGKILL and started again on the same state
// directory loses no process: its ghosts wait for it and its nodes keep
// their processes (procs_restart.go). These clusters run their nodes as
// bpslaves of their own, as machines would; restart_local_test.go checks
// the nodes of --local-nodes.

// startWithSlaves starts a master with no local nodes, on a fixed
// address the nodes dial again after a restart, and n bpslaves as nodes
// 0 to n-1. It returns the slaves, which a test may kill.
func startWithSlaves(t *testing.T, n int, extra ...string) (*cluster, []*exec.Cmd) {
	t.Helper()
	addr := freeAddr(t)
	c := startCluster(t, 0, append([]string{"--nodes", strconv.Itoa(n), "--listen", addr}, extra...)...)
	waitListening(t, c)
	state := filepath.Join(c.dir, "state")
	var slaves []*exec.Cmd
	for i := range n {
		num := strconv.Itoa(i)
		// A namespace node, as --local-nodes makes, but not the master's
		// child: its processes, its /run/bproc (the node's API socket)
		// and its PIDs stay off the machine's own.
		slave := exec.Command(binary, "bpslave", "--master", addr, "--node", num,
			"--host-key", filepath.Join(state, "host_key.pub"), "--local")
		if !slices.Contains(extra, "--no-diskless") {
			slave.Args = append(slave.Args, "--diskless")
		}
		slave.Env = append(os.Environ(), "BPROC_TOKEN="+c.nodeToken(t, num))
		log := &syncBuffer{}
		slave.Stdout, slave.Stderr = log, log
		slave.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL,
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC}
		if err := pdeathsig.Start(slave); err != nil {
			t.Fatal(err)
		}
		// SIGTERM: the slave ends its remote processes as it goes.
		t.Cleanup(func() {
			slave.Process.Signal(syscall.SIGTERM)
			if waitCmd(slave, 10*time.Second) != nil {
				slave.Process.Kill()
			}
			if t.Failed() {
				t.Logf("node %s's log:\n%s", num, log)
			}
		})
		slaves = append(slaves, slave)
	}
	for i := range n {
		c.waitState(t, strconv.Itoa(i), "up")
	}
	return c, slaves
}

// freeAddr is a loopback address no one listens on: a master's, which
// its nodes dial again after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// killRestart kills the master with SIGKILL and starts it again on the
// same state directory after pause.
func killRestart(t *testing.T, c *cluster, pause time.Duration) {
	t.Helper()
	signalRestart(t, c, syscall.SIGKILL, pause)
}

// signalRestart stops the master with sig and starts it again on the
// same state directory after pause.
func signalRestart(t *testing.T, c *cluster, sig syscall.Signal, pause time.Duration) {
	t.Helper()
	c.master.Process.Signal(sig)
	c.master.Wait()
	fmt.Fprintf(c.log, "--- master stopped by %v (test) ---\n", sig)
	time.Sleep(pause)
	c.launch()
	waitListening(t, c)
}

// waitStarted waits until the master knows n processes (or more) started on their
// nodes (the node said their PIDs there): they run, and bpstat -p shows
// where.
func waitStarted(t *testing.T, c *cluster, n int) []localapi.Proc {
	t.Helper()
	var procs []localapi.Proc
	waitFor(t, fmt.Sprintf("%d processes started", n), func() bool {
		var err error
		procs, err = c.client().Procs()
		started := 0
		for _, p := range procs {
			if p.NodePID != 0 {
				started++
			}
		}
		return err == nil && started >= n
	})
	return procs
}

// waitListening waits until the master answers on its socket: with no
// local nodes, startCluster does not wait for it.
func waitListening(t *testing.T, c *cluster) {
	t.Helper()
	waitFor(t, "the master's socket", func() bool {
		cl, err := apiclient.Dial(c.socket)
		if err == nil {
			cl.Close()
		}
		return err == nil
	})
}

// TestMasterKilledStream: a process streaming a counter to bpsh's stdout
// goes on through a SIGKILL of its master and a new master: every number
// arrives once, and bpsh ends with the process's status.
func TestMasterKilledStream(t *testing.T) { testMasterRestartStream(t, syscall.SIGKILL) }

// TestMasterStoppedStream: the same through a master stopped with
// SIGTERM (systemctl restart, an upgrade): a stopping master leaves its
// processes to the next.
func TestMasterStoppedStream(t *testing.T) { testMasterRestartStream(t, syscall.SIGTERM) }

func testMasterRestartStream(t *testing.T, sig syscall.Signal) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	var out, errb syncBuffer
	script := counter(60)
	script[2] += "; exit 7"
	count := c.command("bpsh", append([]string{"0"}, script...)...)
	startRecorded(t, count, &out, &errb)
	waitOutput(t, &out, "\n10\n")
	signalRestart(t, c, sig, 500*time.Millisecond)
	err := waitCmd(count, 40*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Errorf("bpsh of the counter: %v, want exit 7; stderr %q", err, errb.String())
	}
	wantCount(t, out.String(), 60)
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted`))
}

// TestMasterKilledManyProcesses: one bpsh waits on many processes over
// several nodes through a master's SIGKILL; each ends with its own status
// (rank k exits k), which bpsh sees through wait(), bpstat -p shows them
// all on the new master, and the new master relays bpsh's stdin. The
// ranks fork nothing: a remote process's forks while its master is away
// get no ghost (see ARCHITECTURE.md).
func TestMasterKilledManyProcesses(t *testing.T) {
	const nodes, perNode = 4, 25
	c, _ := startWithSlaves(t, nodes, "--no-diskless", "--node-grace", "60s")
	// Rank k exits k (BPROC_RANK without its leading zeros).
	script := `read x; echo "rank $BPROC_RANK $x"; k=${BPROC_RANK#"${BPROC_RANK%%[1-9]*}"}; exit ${k:-0}`
	var out, errb syncBuffer
	cmd := c.command("bpsh", "--per-node", strconv.Itoa(perNode), "0-3", "sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	startRecorded(t, cmd, &out, &errb)
	waitStarted(t, c, nodes*perNode)
	killRestart(t, c, 500*time.Millisecond)
	var procs []localapi.Proc
	waitFor(t, "the processes back in the table", func() bool {
		procs, err = c.client().Procs()
		return err == nil && len(procs) == nodes*perNode
	})
	onNode := map[int]int{}
	for _, p := range procs {
		onNode[p.Node]++
		if len(p.Argv) == 0 || p.Argv[0] != "sh" {
			t.Errorf("bpstat -p after the restart: process %d shows %q", p.PID, p.Argv)
		}
	}
	for n := range nodes {
		if onNode[n] != perNode {
			t.Errorf("bpstat -p after the restart: %d processes on node %d, want %d", onNode[n], n, perNode)
		}
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	err = waitCmd(cmd, 60*time.Second)
	// bpsh exits with the highest status of its ranks: 99, unless one
	// was killed (137) or lost (255).
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != nodes*perNode-1 {
		t.Errorf("bpsh: %v, want exit %d; stderr %q", err, nodes*perNode-1, errb.String())
	}
	for k := range nodes * perNode {
		if !strings.Contains(out.String(), fmt.Sprintf("rank %07d go\n", k)) {
			t.Errorf("no output from rank %d", k)
		}
	}
	if strings.Contains(errb.String(), "died") || strings.Contains(c.log.String(), "remote process lost") {
		t.Errorf("a process was lost:\n%s\n%s", errb.String(), c.log)
	}
}

// TestMasterKilledNodeDied: a node that dies while its master is down
// never comes back; the new master ends its processes' ghosts as BProc
// did ("Slave node died": killed by SIGKILL) once the grace time is over,
// bpsh says so (it asks the new master, OpLost), and the other node's
// processes go on.
func TestMasterKilledNodeDied(t *testing.T) {
	c, slaves := startWithSlaves(t, 2, "--no-diskless", "--node-grace", "8s")
	lost := c.command("bpsh", "0", "sleep", "60")
	kept := c.command("bpsh", "1", "sh", "-c", "sleep 4; exit 3")
	var lostErr syncBuffer
	lost.Stderr = &lostErr
	for i, cmd := range []*exec.Cmd{lost, kept} {
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitStarted(t, c, i+1)
	}
	c.master.Process.Kill()
	c.master.Wait()
	// Node 0 dies meanwhile (its remote processes with it).
	slaves[0].Process.Signal(syscall.SIGTERM)
	waitCmd(slaves[0], 10*time.Second)
	c.launch()
	waitListening(t, c)
	err := waitCmd(kept, 30*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("bpsh on the node that lived: %v, want exit 3", err)
	}
	// Its ghost dies by SIGKILL, which bpsh says as 128+9.
	err = waitCmd(lost, 30*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGKILL) {
		t.Errorf("bpsh on the node that died: %v, want exit 137; stderr %q", err, lostErr.String())
	}
	// And bpsh says why, as for a node that dies under its master.
	if !strings.Contains(lostErr.String(), "0: Slave node died\n") {
		t.Errorf("bpsh on the node that died: stderr %q, want 0: Slave node died", lostErr.String())
	}
	c.waitLog(t, regexp.MustCompile(`remote process lost after the master restarted: its node did not take it back" pid=\d+ node=0`))
}

// TestMasterKilledGhostGone: a ghost killed while its master is down
// never comes back; the new master ends the process its node kept once
// the ghost has had its time (the grace time, at most 30 s), and says so.
func TestMasterKilledGhostGone(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "5s")
	cmd := c.command("bpsh", "0", "sleep", "60")
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	procs := waitStarted(t, c, 1)
	c.master.Process.Kill()
	c.master.Wait()
	syscall.Kill(procs[0].PID, syscall.SIGKILL) // the ghost
	waitCmd(cmd, 10*time.Second)
	c.launch()
	waitListening(t, c)
	// Before the grace time is over: the node would end it then anyway.
	deadline := time.Now().Add(4500 * time.Millisecond)
	c.waitLog(t, regexp.MustCompile(`no ghost came back for it; ending it" node=0 pid=`+strconv.Itoa(procs[0].PID)))
	for syscall.Kill(procs[0].NodePID, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the remote process %d still runs %v after the restart", procs[0].NodePID, 4500*time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMasterKilledSignals: signals sent while the master is down reach
// the processes once a new master has taken them back: one sent to bpsh
// (which cannot reach a master, and sends it to its ghost), and one sent
// to a ghost directly (it holds it meanwhile).
func TestMasterKilledSignals(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	viaBpsh := c.command("bpsh", "0", "sleep", "60")
	toGhost := c.command("bpsh", "0", "sleep", "61")
	for i, cmd := range []*exec.Cmd{viaBpsh, toGhost} {
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitStarted(t, c, i+1)
	}
	var ghost int
	for _, p := range waitStarted(t, c, 2) {
		if p.Argv[len(p.Argv)-1] == "61" {
			ghost = p.PID
		}
	}
	c.master.Process.Kill()
	c.master.Wait()
	viaBpsh.Process.Signal(syscall.SIGTERM)
	syscall.Kill(ghost, syscall.SIGUSR1)
	time.Sleep(500 * time.Millisecond)
	c.launch()
	waitListening(t, c)
	for _, w := range []struct {
		cmd *exec.Cmd
		sig syscall.Signal
	}{{viaBpsh, syscall.SIGTERM}, {toGhost, syscall.SIGUSR1}} {
		// bpsh of one process ends as it did: killed by the signal.
		err := waitCmd(w.cmd, 20*time.Second)
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != w.sig {
			t.Errorf("%v: %v, want killed by %v", w.cmd.Args, err, w.sig)
		}
	}
}
