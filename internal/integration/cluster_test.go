// Package integration starts a real bpmaster with real namespace nodes and
// drives it with the real bproc binary, as a user would.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/bproc"
	"github.com/bproc/bproc/internal/shared/apiclient"
)

// binary is the bproc binary under test: $BPROC_BIN (make test sets it),
// else one built for this run.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binary = os.Getenv("BPROC_BIN")
	// Tests run bpsh as other users (nobody), who must reach the binary:
	// one built for the run, or a copy of $BPROC_BIN where a checkout's
	// directory is closed to others (a clone in a 0700 home).
	if binary == "" || !reachableByOthers(binary) {
		dir, err := os.MkdirTemp("", "bproc-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if binary, err = publicBinary(binary, dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Remote processes start in the caller's directory, which a node has
	// only outside /tmp (its /tmp is its own): tests of a tree checked
	// out under /tmp run from a directory that nodes have.
	if cwd, _ := os.Getwd(); strings.HasPrefix(cwd, "/tmp/") || strings.HasPrefix(cwd, "/var/tmp/") {
		dir, err := os.MkdirTemp("/var/lib", "bproc-cwd-")
		if err == nil {
			defer os.RemoveAll(dir)
			os.Chmod(dir, 0o755)
			err = os.Chdir(dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "leave /tmp:", err)
			return 1
		}
	}
	return m.Run()
}

// cluster is a running bpmaster with local nodes.
type cluster struct {
	t      *testing.T
	dir    string
	socket string
	master *exec.Cmd
	log    *syncBuffer
	// logw is the write end of the pipe into log, which every master of
	// the cluster writes to: nodes taken back after a restart go on
	// logging into it when the master that started them is gone.
	logw  *os.File
	nodes int
	args  []string // bpmaster's, kept for a restart
	// taken are local nodes a killed master left, which the next one
	// took (bpslave PIDs): not its children, they count as its nodes.
	taken []int
}

// syncBuffer is the master's log: written by exec's copying goroutine and
// read by the test while the master runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until the master's log matches re and returns the match.
func (c *cluster) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(c.log.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("master log has no %q after 10 s:\n%s", re, c.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeAddr is the TCP address the master takes nodes on.
func (c *cluster) nodeAddr(t *testing.T) string {
	return c.waitLog(t, regexp.MustCompile(`bpmaster listening" nodes=(\S+)`))[1]
}

// startCluster starts bpmaster --local-nodes n and waits until every node is
// up. Everything is stopped and checked gone when the test ends.
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: namespace nodes and chosen PIDs")
	}
	dir := t.TempDir()
	// Other users must reach the socket: open up the test's own
	// directories (t.TempDir makes them private to root).
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &cluster{t: t, dir: dir, socket: filepath.Join(dir, "master.sock"), log: &syncBuffer{}, nodes: n}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.logw = w
	copied := make(chan struct{})
	go func() { io.Copy(c.log, r); close(copied) }()
	t.Cleanup(func() {
		// Runs after the stop: nothing writes to the pipe any more but
		// what the master's nodes may have left in it.
		w.Close()
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
		r.Close()
	})
	c.args = append([]string{"bpmaster", "--local-nodes", strconv.Itoa(n),
		"--socket", c.socket, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", "--ping-timeout", "2s",
		"--node-up-dir", filepath.Join(dir, "node_up.d")}, extra...)
	c.launch()
	t.Cleanup(c.stop)
	c.waitSettled()
	return c
}

// launch starts bpmaster with c.args.
func (c *cluster) launch() {
	c.master = exec.Command(binary, c.args...)
	c.master.Stdout, c.master.Stderr = c.logw, c.logw
	// A node a test sends SIGQUIT to (dumpStacks) prints every thread's
	// stack, also of a goroutine running on another thread.
	c.master.Env = append(os.Environ(), "GOTRACEBACK=crash")
	c.master.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.master.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// restart stops the master (checking, as at the end, that nothing is left)
// and starts it again with the same state directory.
func (c *cluster) restart(t *testing.T) {
	t.Helper()
	c.stop()
	c.launch()
	c.waitSettled()
}

// waitSettled waits until every node has left down and boot: it is up, or
// in error when its setup failed.
func (c *cluster) waitSettled() {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		settled := 0
		if cl, err := apiclient.Dial(c.socket); err == nil {
			nodes, _ := cl.Nodes()
			cl.Close()
			// The local nodes: a test may run other nodes beside them.
			for _, nd := range nodes {
				if nd.Local && nd.State != "down" && nd.State != "boot" {
					settled++
				}
			}
		}
		if settled == c.nodes {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d local nodes past boot after 20 s; master log:\n%s", settled, c.nodes, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and checks that the master and all its nodes are gone.
func (c *cluster) stop() { c.stopWith(syscall.SIGTERM) }

// stopWith stops the master with sig (SIGTERM or SIGINT) and checks that
// it and all its nodes are gone; a master stopped already is left alone.
func (c *cluster) stopWith(sig syscall.Signal) {
	t := c.t
	if c.master.ProcessState != nil {
		return
	}
	slaves := c.slavePIDs()
	if len(slaves) != c.nodes {
		t.Errorf("the master has %d children, want its %d local nodes", len(slaves), c.nodes)
	}
	c.master.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- c.master.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("bpmaster exited with %v; log:\n%s", err, c.log)
		}
	case <-time.After(15 * time.Second):
		c.master.Process.Kill()
		<-done
		t.Errorf("bpmaster did not stop on %v within 15 s", sig)
	}
	for _, pid := range slaves {
		if running(pid) {
			t.Errorf("node bpslave %d still alive after the master stopped", pid)
		}
	}
	if _, err := os.Stat(c.socket); err == nil {
		t.Errorf("socket %s left behind", c.socket)
	}
	if t.Failed() {
		t.Logf("master log:\n%s", c.log)
	}
}

// slavePIDs are the master's children: the bpslaves of the local nodes
// (every thread's children: Go starts them from any thread), and those it
// took from a master before it (taken).
func (c *cluster) slavePIDs() []int {
	out := children(c.master.Process.Pid)
	for _, pid := range c.taken {
		if running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// result is what a command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// bpsh runs the bpsh applet against the cluster.
func (c *cluster) run(stdin string, applet string, args ...string) result {
	c.t.Helper()
	return c.runCmd(c.command(applet, args...), stdin)
}

// runIn runs an applet in dir, with no input.
func (c *cluster) runIn(dir, applet string, args ...string) result {
	c.t.Helper()
	cmd := c.command(applet, args...)
	cmd.Dir = dir
	return c.runCmd(cmd, "")
}

func (c *cluster) runCmd(cmd *exec.Cmd, stdin string) result {
	c.t.Helper()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A ghost left behind holds the pipes open: Wait gives up on them
	// once the command has ended, and the test fails instead of hanging.
	cmd.WaitDelay = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded && cmd.Process != nil {
			cmd.Process.Kill()
		}
	}()
	err := cmd.Run()
	code := 0
	if _, ok := err.(*exec.ExitError); ok {
		code = exitCode(err)
	} else if err != nil {
		c.t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (c *cluster) command(applet string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{applet}, args...)...)
	cmd.Env = append(os.Environ(), "BPROC_SOCKET="+c.socket)
	return cmd
}

// nodeToken is a boot token for node, from bpctl --node-token: what a
// bpslave started by hand shows at its first connection.
func (c *cluster) nodeToken(t *testing.T, node string) string {
	t.Helper()
	r := c.run("", "bpctl", "--node-token", node)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(tok) != 64 {
		t.Fatalf("bpctl --node-token %s: exit %d %q %q", node, r.code, r.stdout, r.stderr)
	}
	return tok
}

func (c *cluster) client() *apiclient.Client {
	c.t.Helper()
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// api is a client of the master's over the public Go API.
func (c *cluster) api() *bproc.Client {
	c.t.Helper()
	cl, err := bproc.Dial(c.socket)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// waitNoProcs waits until the master knows no remote process.
func (c *cluster) waitNoProcs() {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, err := c.client().Procs()
		if err == nil && len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("remote processes still known after 10 s: %v (err %v)", procs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
