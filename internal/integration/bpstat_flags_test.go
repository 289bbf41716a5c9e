package integration

import (
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
)

// TestBpstatFlags: bpstat's output and order flags against nodes that
// differ: 0 up as it started, 1 up with another owner, group and mode, 2
// unavailable, 3 powered off, 4 in the config but never connected.
func TestBpstatFlags(t *testing.T) {
	c := startCluster(t, 4, "--nodes", "5")
	if r := c.run("", "bpctl", "-S", "1", "-u", "65533", "-g", "100", "-m", "0010", "-S", "2", "-s", "unavailable", "-S", "3", "-P"); r.code != 0 {
		t.Fatalf("bpctl: exit %d %q", r.code, r.stderr)
	}
	c.waitState(t, "3", "down")
	c.powerOnAtEnd(t, 3)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-s"}, "up\nup\nunavailable\ndown\ndown\n"},
		{[]string{"-n"}, "0\n1\n2\n3\n4\n"},
		// -a: the address a node connected from; none for one that never did.
		{[]string{"-a"}, "0\t127.0.0.1\n1\t127.0.0.1\n2\t127.0.0.1\n3\t127.0.0.1\n4\t\n"},
		{[]string{"-a", "4,1"}, "1\t127.0.0.1\n4\t\n"},
		{[]string{"-t"}, "5\n"},
		{[]string{"-t", "1-3"}, "3\n"},
		{[]string{"-t", "up"}, "2\n"},
		{[]string{"-t", "0,0,2"}, "3\n"},
		{[]string{"-n", "-R"}, "4\n3\n2\n1\n0\n"},
		{[]string{"-s", "-R"}, "down\ndown\nunavailable\nup\nup\n"},
		// By number is the default, whatever the order of the specs.
		{[]string{"-n", "3,0,4,1"}, "0\n1\n3\n4\n"},
		{[]string{"-n", "-N", "3", "0", "4"}, "0\n3\n4\n"},
		{[]string{"-n", "-N", "-R", "3", "0", "4"}, "4\n3\n0\n"},
		// By state (down, unavailable, up), by number within a state.
		{[]string{"-n", "-S"}, "3\n4\n2\n0\n1\n"},
		{[]string{"-n", "-S", "-R"}, "1\n0\n2\n4\n3\n"},
		{[]string{"-S", "-s", "0-2"}, "unavailable\nup\nup\n"},
		// -O keeps the specs' order.
		{[]string{"-n", "-O", "3,0,4,1"}, "3\n0\n4\n1\n"},
		{[]string{"-n", "-O", "4", "0", "2"}, "4\n0\n2\n"},
		{[]string{"-n", "-O", "-R", "4", "0", "2"}, "2\n0\n4\n"},
		{[]string{"-a", "-O", "4,0"}, "4\t\n0\t127.0.0.1\n"},
	} {
		r := c.run("", "bpstat", tc.args...)
		if r.code != 0 || r.stdout != tc.want || r.stderr != "" {
			t.Errorf("bpstat %v = %q (stderr %q, exit %d), want %q", tc.args, r.stdout, r.stderr, r.code, tc.want)
		}
	}

	// The compact table folds the nodes that agree, in -R and -S order too.
	header := "Node(s)                            Status          Mode       User     Group\n"
	row := func(nodes, state, mode, user, group string) string {
		return padRight(nodes, 35) + padRight(state, 16) + padRight(mode, 11) + padRight(user, 9) + group + "\n"
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, header + row("0", "up", "---x--x--x", "root", "root") + row("1", "up", "------x---", "#65533", "users") +
			row("2", "unavailable", "---x--x--x", "root", "root") + row("3-4", "down", "---x--x--x", "root", "root")},
		{[]string{"-R"}, header + row("3-4", "down", "---x--x--x", "root", "root") + row("2", "unavailable", "---x--x--x", "root", "root") +
			row("1", "up", "------x---", "#65533", "users") + row("0", "up", "---x--x--x", "root", "root")},
		{[]string{"-S", "0,2,4"}, header + row("4", "down", "---x--x--x", "root", "root") + row("2", "unavailable", "---x--x--x", "root", "root") +
			row("0", "up", "---x--x--x", "root", "root")},
	} {
		r := c.run("", "bpstat", tc.args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("bpstat %v =\n%s(stderr %q, exit %d), want\n%s", tc.args, r.stdout, r.stderr, r.code, tc.want)
		}
	}
	// The long table in state order.
	r := c.run("", "bpstat", "-l", "-S")
	long := regexp.MustCompile(`(?m)^ *(\d+) (\S*) +(\S+) +(\S+) +(\S+) +(\S+) `)
	var got []string
	for _, m := range long.FindAllStringSubmatch(r.stdout, -1) {
		got = append(got, strings.Join(m[1:], " "))
	}
	want := []string{"3 127.0.0.1 down ---x--x--x root root", "4  down ---x--x--x root root", "2 127.0.0.1 unavailable ---x--x--x root root",
		"0 127.0.0.1 up ---x--x--x root root", "1 127.0.0.1 up ------x--- #65533 users"}
	if !slices.Equal(got, want) {
		t.Errorf("bpstat -l -S =\n%s\nrows %q, want %q", r.stdout, got, want)
	}

	// Flags that exclude each other: a usage error, nothing printed.
	for _, args := range [][]string{{"-N", "-S"}, {"-S", "-O"}, {"-n", "-t"}, {"-a", "-s"}, {"-U", "-p"}} {
		r := c.run("", "bpstat", args...)
		if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") < 1 {
			t.Errorf("bpstat %v: exit %d, stdout %q, stderr %q; want a usage error (2)", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestBpstatUpdate: bpstat -U draws the table, and again on every change;
// SIGINT and SIGTSTP end and stop it, unless -L.
func TestBpstatUpdate(t *testing.T) {
	c := startCluster(t, 2)
	c.powerOnAtEnd(t, 1) // halted below

	// Without -L.
	w := c.startBpstat(t, "-U", "-s", "1")
	w.waitDraw(t, "up\n")
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGTSTP)
	waitFor(t, "bpstat -U stopped by SIGTSTP", func() bool { return procState(w.cmd.Process.Pid) == "T" })
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGCONT)
	if r := c.run("", "bpctl", "-S", "1", "-s", "unavailable"); r.code != 0 {
		t.Fatalf("bpctl: exit %d %q", r.code, r.stderr)
	}
	w.waitDraw(t, "unavailable\n")
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGINT)
	if err := w.wait(t); err == nil || !strings.Contains(err.Error(), "interrupt") {
		t.Errorf("bpstat -U after SIGINT: %v, want killed by it", err)
	}

	// With -L: the same signals do nothing; it goes on redrawing.
	w = c.startBpstat(t, "-U", "-L", "-s", "1")
	w.waitDraw(t, "unavailable\n")
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGINT)
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGTSTP)
	if r := c.run("", "bpctl", "-S", "1", "-s", "up"); r.code != 0 {
		t.Fatalf("bpctl: exit %d %q", r.code, r.stderr)
	}
	w.waitDraw(t, "up\n")
	if s := procState(w.cmd.Process.Pid); s == "T" || s == "Z" || s == "" {
		t.Errorf("bpstat -U -L after SIGINT and SIGTSTP: state %q, want running", s)
	}
	// A node that goes down is a change too.
	if r := c.run("", "bpctl", "-S", "1", "-H"); r.code != 0 {
		t.Fatalf("bpctl -H: exit %d %q", r.code, r.stderr)
	}
	w.waitDraw(t, "down\n")
	syscall.Kill(w.cmd.Process.Pid, syscall.SIGTERM)
	if err := w.wait(t); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("bpstat -U -L after SIGTERM: %v, want killed by it", err)
	}
}

// TestPwroff: bpctl -P on a local node stops it: its bpslave ends, it is
// down and stays down (nothing runs there) until bpctl -R.
func TestPwroff(t *testing.T) {
	c := startCluster(t, 2)
	slave := c.nodePID(t, 1)
	c.powerOnAtEnd(t, 1)
	sleeper := c.startBpsh(t, "1", "sleep", "309.5")
	waitRemote(t, "sleep", "309.5")
	if r := c.run("", "bpctl", "-S", "1", "-P"); r.code != 0 || r.stderr != "" {
		t.Fatalf("bpctl -P: exit %d %q", r.code, r.stderr)
	}
	if err := sleeper.Wait(); exitCode(err) != 137 {
		t.Errorf("bpsh on a node powered off: %v, want 137; stderr %q", err, stderrOf(sleeper))
	}
	c.waitState(t, "1", "down")
	waitFor(t, "node 1's bpslave gone", func() bool { return syscall.Kill(slave, 0) != nil })
	c.waitLog(t, regexp.MustCompile(`local node halted; bpctl --reboot starts it again" node=1 action=pwroff`))
	time.Sleep(2500 * time.Millisecond) // longer than the supervisor's restart backoff
	if s := nodeState(c, 1); s != "down" {
		t.Errorf("a powered-off node came back by itself: %s", s)
	}
	if pids := c.nodePIDs(1); len(pids) != 1 {
		t.Errorf("node 1 started %d times, want once: it was powered off", len(pids))
	}
	if r := c.run("", "bpsh", "1", "true"); r.code == 0 || r.stderr != "1: Node is down\n" {
		t.Errorf("bpsh on a powered-off node: exit %d %q, want 1: Node is down", r.code, r.stderr)
	}
	if r := c.run("", "bpctl", "-S", "1", "-P"); r.code != 1 || r.stderr != "1: Node is down\n" {
		t.Errorf("bpctl -P of a node already off: exit %d %q, want 1: Node is down", r.code, r.stderr)
	}
	if s := nodeState(c, 0); s != "up" {
		t.Errorf("node 0 while node 1 powered off: %s", s)
	}
	if r := c.run("", "bpctl", "-S", "1", "-R"); r.code != 0 {
		t.Fatalf("bpctl -R of a powered-off node: exit %d %q", r.code, r.stderr)
	}
	c.waitState(t, "1", "up")
	checkCleanNode(t, c, 1)
}

// TestGroupAccess: a node's group execute bit lets in the users of its
// group and no one else; bpcp follows the same rule: a user refused gets
// "N: Permission denied" and copies nothing, either way.
func TestGroupAccess(t *testing.T) {
	c := startCluster(t, 2)
	bin := userBinary(t)
	const nobody, users = 65534, 100
	// Node 1: group users, only the group bit; root owns it.
	if r := c.run("", "bpctl", "-S", "1", "-g", "users", "-m", "0010"); r.code != 0 {
		t.Fatalf("bpctl: exit %d %q", r.code, r.stderr)
	}
	member := []uint32{nobody, users}
	if r := asGroups(t, c, bin, nobody, nobody, member, "bpsh", "1", "id", "-G"); r.code != 0 || r.stdout != "65534 100\n" {
		t.Errorf("bpsh 1 by a member of the node's group: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	// The group as the primary group counts too.
	if r := asGroups(t, c, bin, nobody, users, nil, "bpsh", "1", "id", "-g"); r.code != 0 || r.stdout != "100\n" {
		t.Errorf("bpsh 1 by a user whose primary group is the node's: %q %q exit %d", r.stdout, r.stderr, r.code)
	}
	r := asGroups(t, c, bin, nobody, nobody, []uint32{nobody}, "bpsh", "0-1", "echo", "hi")
	if r.code == 0 || r.stdout != "hi\n" || r.stderr != "1: Permission denied\n" {
		t.Errorf("bpsh 0-1 by a user not in the group: out %q err %q exit %d; want node 0 to run and 1: Permission denied", r.stdout, r.stderr, r.code)
	}
	// The owner's bit is not set: the owner, though in the group, is refused
	// (the first class that matches decides, as for a file).
	if r := c.run("", "bpctl", "-S", "1", "-u", "nobody"); r.code != 0 {
		t.Fatalf("bpctl -u: exit %d %q", r.code, r.stderr)
	}
	if r := asGroups(t, c, bin, nobody, nobody, member, "bpsh", "1", "true"); r.code == 0 || r.stderr != "1: Permission denied\n" {
		t.Errorf("bpsh 1 by its owner with mode 0010: %q exit %d, want 1: Permission denied", r.stderr, r.code)
	}
	if r := c.run("", "bpctl", "-S", "1", "-u", "root"); r.code != 0 {
		t.Fatalf("bpctl -u: exit %d %q", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "1", "echo", "root may"); r.stdout != "root may\n" {
		t.Errorf("root on a node of mode 0010: %q %q", r.stdout, r.stderr)
	}

	// bpcp, to and from the node, by a user the node refuses.
	dir := publicTempDir(t)
	os.Chmod(dir, 0o777)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = asGroups(t, c, bin, nobody, nobody, nil, "bpcp", src, "1:/tmp/copied")
	if r.code != 1 || r.stderr != "bpcp: 1: Permission denied\n" {
		t.Errorf("bpcp to a node that refuses the user: exit %d %q, want 1 and bpcp: 1: Permission denied", r.code, r.stderr)
	}
	if r := c.run("", "bpsh", "1", "ls", "-A", "/tmp"); r.code != 0 || strings.Contains(r.stdout, "copied") {
		t.Errorf("node 1's /tmp after the refused bpcp: %q %q", r.stdout, r.stderr)
	}
	if r := c.run("", "bpsh", "1", "sh", "-c", "echo secret > /tmp/kept"); r.code != 0 {
		t.Fatalf("a file on node 1: %q", r.stderr)
	}
	dst := filepath.Join(dir, "fetched")
	r = asGroups(t, c, bin, nobody, nobody, nil, "bpcp", "1:/tmp/kept", dst)
	if r.code != 1 || r.stderr != "bpcp: 1: Permission denied\n" {
		t.Errorf("bpcp from a node that refuses the user: exit %d %q, want 1 and bpcp: 1: Permission denied", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the refused bpcp left files in %s: %v", dir, ents)
	}
	// The same user, in the group, copies.
	r = asGroups(t, c, bin, nobody, nobody, member, "bpcp", "1:/tmp/kept", dst)
	if b, _ := os.ReadFile(dst); r.code != 0 || string(b) != "secret\n" {
		t.Errorf("bpcp from node 1 by a member of its group: exit %d %q, copied %q", r.code, r.stderr, b)
	}
	c.waitNoProcs()
}

// powerOnAtEnd: node n, halted or powered off by the test, is started
// again before the cluster stops (which counts its bpslaves), also when
// the test fails.
func (c *cluster) powerOnAtEnd(t *testing.T, n int) {
	node := strconv.Itoa(n)
	t.Cleanup(func() {
		if nodeState(c, n) != "down" {
			return
		}
		c.run("", "bpctl", "-S", node, "-R")
		c.waitSettled()
	})
}

// asGroups runs an applet as uid with primary group gid and supplementary
// groups.
func asGroups(t *testing.T, c *cluster, bin string, uid, gid uint32, groups []uint32, applet string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, append([]string{applet}, args...)...)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups, NoSetGroups: false}}
	return c.runCmd(cmd, "")
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// watcher is a bpstat -U running in its own process group (so that
// SIGTSTP may stop it: the test's group could be orphaned).
type watcher struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func (c *cluster) startBpstat(t *testing.T, args ...string) *watcher {
	t.Helper()
	w := &watcher{cmd: c.command("bpstat", args...), out: &syncBuffer{}, done: make(chan error, 1)}
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

// waitDraw waits until the last screen bpstat drew is want.
func (w *watcher) waitDraw(t *testing.T, want string) {
	t.Helper()
	const clear = "\033[H\033[2J"
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := w.out.String()
		if i := strings.LastIndex(out, clear); i >= 0 && out[i+len(clear):] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bpstat -U drew %q, want a last screen of %q", out, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for bpstat to end, and says how it did.
func (w *watcher) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("bpstat did not end within 10 s; output %q", w.out.String())
		return nil
	}
}
