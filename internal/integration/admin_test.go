package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userBinary is a copy of the bproc binary that other users can run (the
// checkout may sit under a directory only root can enter), with its applet
// symlinks.
func userBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bproc-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bproc")
	copyFile(t, binary, bin, 0o755)
	return bin
}

// as runs an applet as uid (and gid = uid), returning its output and exit code.
func (c *cluster) as(t *testing.T, bin string, uid uint32, applet string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, append([]string{applet}, args...)...)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{uid}}}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v as %d: %v", applet, args, uid, err)
	}
	return result{out.String(), errb.String(), exitCode(err)}
}

// waitState waits until bpstat -s shows want for node.
func (c *cluster) waitState(t *testing.T, node, want string) {
	t.Helper()
	waitFor(t, "node "+node+" "+want, func() bool {
		return strings.TrimSpace(c.run("", "bpstat", "-s", node).stdout) == want
	})
}

func TestPermissions(t *testing.T) {
	c := startCluster(t, 3)
	bin := userBinary(t)
	const alice, bob = 65534, 65533

	// Only root changes states and owners.
	r := c.as(t, bin, alice, "bpctl", "-S", "0", "-s", "unavailable")
	if r.code != 1 || r.stderr != "0: Operation not permitted\n" {
		t.Errorf("bpctl -s as a user: exit %d, %q", r.code, r.stderr)
	}
	r = c.as(t, bin, alice, "bpctl", "-S", "0", "-u", "0")
	if r.code != 1 || r.stderr != "0: Operation not permitted\n" {
		t.Errorf("bpctl -u as a user: exit %d, %q", r.code, r.stderr)
	}

	// Root gives node 1 to alice, usable by her alone; node 2 goes unavailable.
	if r := c.run("", "bpctl", "-S", "1", "-u", "65534", "-m", "0100", "-S", "2", "-s", "unavailable"); r.code != 0 {
		t.Fatalf("bpctl as root: exit %d, %q", r.code, r.stderr)
	}
	if r := c.as(t, bin, alice, "bpsh", "1", "id", "-u"); r.stdout != "65534\n" || r.code != 0 {
		t.Errorf("the owner on her node: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	r = c.as(t, bin, bob, "bpsh", "0-1", "echo", "hi")
	if r.code == 0 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "1: Permission denied") {
		t.Errorf("another user on nodes 0-1: out %q err %q exit %d; want node 0 to run and 1: Permission denied", r.stdout, r.stderr, r.code)
	}
	r = c.as(t, bin, bob, "bpsh", "2", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "2: Node is unavailable") {
		t.Errorf("a user on an unavailable node: %q exit %d", r.stderr, r.code)
	}
	if r := c.run("", "bpsh", "2", "echo", "root may"); r.stdout != "root may\n" {
		t.Errorf("root on an unavailable node: %q %q", r.stdout, r.stderr)
	}

	// The owner chmods, and chgrps only to her own groups.
	if r := c.as(t, bin, alice, "bpctl", "-S", "1", "-m", "0111", "-g", "65534"); r.code != 0 {
		t.Errorf("owner chmod/chgrp: exit %d %q", r.code, r.stderr)
	}
	if r := c.as(t, bin, alice, "bpctl", "-S", "1", "-g", "0"); r.code != 1 || r.stderr != "1: Operation not permitted\n" {
		t.Errorf("owner chgrp to a group not hers: exit %d %q", r.code, r.stderr)
	}
	if r := c.as(t, bin, bob, "bpctl", "-S", "1", "-m", "0100"); r.code != 1 || r.stderr != "1: Operation not permitted\n" {
		t.Errorf("chmod by another user: exit %d %q", r.code, r.stderr)
	}
	want := regexp.MustCompile(`(?m)^1\s+up\s+---x--x--x nobody\s+nogroup$`)
	if out := c.run("", "bpstat").stdout; !want.MatchString(out) {
		t.Errorf("bpstat after the changes:\n%s", out)
	}

	// Bad input: one line, exit 2, nothing changed (the restart below
	// checks the table again).
	for _, args := range [][]string{{"-S", "1", "-m", "0755"}, {"-S", "x7", "-s", "up"}, {"-s", "up"}, {"-S", "1", "-s", "down"},
		// A bad step after good ones: the good ones are not applied either.
		{"-S", "1", "-m", "0100", "-S", "99", "-s", "up"}, {"-S", "1", "-m", "0100", "-u", "no-such-user-bproc"}} {
		r := c.run("", "bpctl", args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("bpctl %v: exit %d %q, want 2 and one line", args, r.code, r.stderr)
		}
	}

	// Settings survive a restart of the master.
	c.restart(t)
	if out := c.run("", "bpstat").stdout; !want.MatchString(out) || !regexp.MustCompile(`(?m)^2\s+unavailable`).MatchString(out) {
		t.Errorf("bpstat after a master restart:\n%s", out)
	}
}

func TestRebootHalt(t *testing.T) {
	c := startCluster(t, 2)
	// A process on node 0 dies with the node's reboot; node 1 is untouched.
	sleeper := c.startBpsh(t, "0", "sleep", "304.5")
	waitRemote(t, "sleep", "304.5")
	other := c.startBpsh(t, "1", "sleep", "1.5")
	if r := c.run("", "bpctl", "-S", "0", "-R"); r.code != 0 {
		t.Fatalf("bpctl -R: exit %d %q", r.code, r.stderr)
	}
	if err := sleeper.Wait(); exitCode(err) != 137 {
		t.Errorf("bpsh on a rebooted node: %v, want 137; its stderr: %q", err, stderrOf(sleeper))
	}
	c.waitState(t, "0", "up")
	// The node came back with a clean process table: its bpslave (PID 1),
	// its view of the master's files, and ps.
	r := c.run("", "bpsh", "0", "ps", "-e", "-o", "pid=,args=")
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.Contains(l, "nodeview") {
			procs = append(procs, strings.TrimSpace(l))
		}
	}
	if len(procs) != 2 || !strings.HasPrefix(procs[0], "1 ") || strings.Contains(r.stdout, "sleep") {
		t.Errorf("processes on node 0 after the reboot: %q (stderr %q)", r.stdout, r.stderr)
	}
	if err := other.Wait(); err != nil {
		t.Errorf("node 1's process during node 0's reboot: %v", err)
	}

	// Halted, a node stays down until it is rebooted.
	if r := c.run("", "bpctl", "-S", "1", "-H"); r.code != 0 {
		t.Fatalf("bpctl -H: exit %d %q", r.code, r.stderr)
	}
	c.waitState(t, "1", "down")
	time.Sleep(1500 * time.Millisecond) // longer than the supervisor's restart backoff
	if s := strings.TrimSpace(c.run("", "bpstat", "-s", "1").stdout); s != "down" {
		t.Errorf("a halted node came back by itself: %s", s)
	}
	if r := c.run("", "bpsh", "1", "true"); r.code == 0 || !strings.Contains(r.stderr, "1: Node is down") {
		t.Errorf("bpsh on a halted node: %q exit %d", r.stderr, r.code)
	}
	if r := c.run("", "bpctl", "-S", "1", "-R"); r.code != 0 {
		t.Fatalf("bpctl -R of a halted node: exit %d %q", r.code, r.stderr)
	}
	c.waitState(t, "1", "up")
}

func TestNodeUp(t *testing.T) {
	// Until the on-demand push lands, a namespace node sees the master's
	// files read-only but has /tmp of its own: keep the scripts elsewhere.
	scripts, err := os.MkdirTemp("/var/lib", "bproc-test-node_up.d-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scripts) })
	os.Chmod(scripts, 0o755)
	os.WriteFile(filepath.Join(scripts, "10-hello"), []byte("#!/bin/sh\necho \"setting up $(hostname) as node $1\"\n"), 0o755)
	os.WriteFile(filepath.Join(scripts, "20-fail-on-1"), []byte("#!/bin/sh\n[ \"$BPROC_NODE\" = 1 ] && { echo 'no disk on node 1' >&2; exit 3; }\nexit 0\n"), 0o755)
	os.WriteFile(filepath.Join(scripts, "README"), []byte("not executable: not run\n"), 0o644)
	c := startCluster(t, 2, "--node-up-dir", scripts)
	c.waitState(t, "1", "error")
	c.waitState(t, "0", "up")
	logs := filepath.Join(c.dir, "state", "log")
	b, _ := os.ReadFile(filepath.Join(logs, "node.1"))
	if !strings.Contains(string(b), "setting up n1 as node 1") || !strings.Contains(string(b), "no disk on node 1") || !strings.Contains(string(b), "exit 3") {
		t.Errorf("node 1's log:\n%s", b)
	}
	b, _ = os.ReadFile(filepath.Join(logs, "node.0"))
	if !strings.Contains(string(b), "setting up n0 as node 0") {
		t.Errorf("node 0's log:\n%s", b)
	}
}

func TestNodeFailure(t *testing.T) {
	// nodegrace 0: the node is given up at once (TestMasterPause: kept).
	c := startCluster(t, 2, "--node-grace", "0")
	sleeper := c.startBpsh(t, "0", "sleep", "305.5")
	waitRemote(t, "sleep", "305.5")
	survivor := c.startBpsh(t, "1", "sleep", "2.5")

	// Node 0 stops answering (its bpslave is stopped): after two ping
	// intervals it is down and the ghost dies as killed by SIGKILL.
	slave := c.nodePID(t, 0)
	syscall.Kill(slave, syscall.SIGSTOP)
	began := time.Now()
	err := sleeper.Wait()
	if exitCode(err) != 137 {
		t.Errorf("bpsh on a node that went silent: %v, want 137; its stderr: %q", err, stderrOf(sleeper))
	}
	t.Logf("ghost ended %v after the node went silent", time.Since(began).Round(time.Millisecond))
	if e := stderrOf(sleeper); !strings.Contains(e, "0: Slave node died\n") {
		t.Errorf("bpsh's stderr on a node that went silent: %q, want 0: Slave node died", e)
	}
	c.waitState(t, "0", "down")
	if err := survivor.Wait(); err != nil {
		t.Errorf("node 1's process while node 0 died: %v", err)
	}
	// It wakes up, finds its master gone, kills its processes, reconnects.
	syscall.Kill(slave, syscall.SIGCONT)
	c.waitState(t, "0", "up")
	waitFor(t, "the remote sleep gone", func() bool { return len(pgrep("sleep", "305.5")) == 0 })
	c.waitNoProcs()
}

// nodePID is the PID of local node num's bpslave.
func (c *cluster) nodePID(t *testing.T, num int) int {
	t.Helper()
	m := c.waitLog(t, regexp.MustCompile(`local node started" node=`+strconv.Itoa(num)+` pid=(\d+)`))
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// TestMasterRestart: a node the master did not start (as a netbooted one)
// reconnects by itself when the master comes back, and is up within
// seconds.
func TestMasterRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := startCluster(t, 1, "--nodes", "2", "--listen", addr)
	state := filepath.Join(c.dir, "state")
	slave := exec.Command(binary, "bpslave", "--master", addr, "--node", "1",
		"--host-key", filepath.Join(state, "host_key.pub"))
	slave.Env = append(os.Environ(), "BPROC_TOKEN="+c.nodeToken(t, "1"))
	var slaveLog syncBuffer
	slave.Stdout, slave.Stderr = &slaveLog, &slaveLog
	slave.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := slave.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Process.Kill(); slave.Wait() })
	c.waitState(t, "1", "up")

	c.restart(t)
	began := time.Now()
	c.waitState(t, "1", "up")
	t.Logf("node 1 up again %v after the master restarted", time.Since(began).Round(time.Millisecond))
	host, _ := os.Hostname()
	if r := c.run("", "bpsh", "1", "hostname"); r.stdout != host+"\n" {
		t.Errorf("bpsh on the reconnected node: %q %q", r.stdout, r.stderr)
	}
}

// TestNodeUpDirReload: the config's nodeupdir is read again on SIGHUP, as
// the rest of the file is: a node that boots after it runs the new
// directory's scripts. It used to keep the one read at start.
func TestNodeUpDirReload(t *testing.T) {
	scriptDir := func(word string) string {
		// Not under /tmp: a namespace node has a /tmp of its own.
		d, err := os.MkdirTemp("/var/lib", "bproc-test-node_up.d-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		os.Chmod(d, 0o755)
		os.WriteFile(filepath.Join(d, "10-say"), []byte("#!/bin/sh\necho \"set up by "+word+" on node $1\"\n"), 0o755)
		return d
	}
	first, second := scriptDir("first"), scriptDir("second")
	conf := filepath.Join(t.TempDir(), "config")
	os.WriteFile(conf, []byte("nodeupdir "+first+"\n"), 0o644)
	// --node-up-dir= undoes startCluster's flag: the config's line counts.
	c := startCluster(t, 1, "--config", conf, "--node-up-dir=")
	nodeLog := filepath.Join(c.dir, "state", "log", "node.0")
	if b, _ := os.ReadFile(nodeLog); !strings.Contains(string(b), "set up by first on node 0") {
		t.Fatalf("node 0's log at start:\n%s", b)
	}
	os.WriteFile(conf, []byte("nodeupdir "+second+"\n"), 0o644)
	c.master.Process.Signal(syscall.SIGHUP)
	c.waitLog(t, regexp.MustCompile(`configuration reloaded`))
	if r := c.run("", "bpctl", "-S", "0", "-R"); r.code != 0 {
		t.Fatalf("bpctl -S 0 -R: exit %d %q", r.code, r.stderr)
	}
	waitFor(t, "node 0 set up by the second directory", func() bool {
		b, _ := os.ReadFile(nodeLog)
		return strings.Contains(string(b), "set up by second on node 0")
	})
	c.waitState(t, "0", "up")
}

// TestNodeUpDirUnseen: scripts kept where a node with a view has a
// directory of its own (here /tmp) cannot run there; the node is in
// error with a log line that says why, where it used to show only each
// script's ENOENT.
func TestNodeUpDirUnseen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node_up.d")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "10-hello"), []byte("#!/bin/sh\necho hello\n"), 0o755)
	c := startCluster(t, 1, "--node-up-dir", dir)
	c.waitState(t, "0", "error")
	want := "node_up.d " + dir + " is under /tmp, which a node has of its own"
	c.waitLog(t, regexp.MustCompile(regexp.QuoteMeta(want)))
	if b, _ := os.ReadFile(filepath.Join(c.dir, "state", "log", "node.0")); !strings.Contains(string(b), want) {
		t.Errorf("node 0's log:\n%s", b)
	}
}
