package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// Cluster is a bpmaster with local namespace nodes, in a temp dir of its
// own, started for the benchmarks and stopped after them.
type Cluster struct {
	Socket string
	Bin    string // the bproc binary; its applet symlinks are beside it
	Nodes  int

	dir    string
	master *exec.Cmd
	exited chan error // the master's Wait, once it returns
	log    *lockedBuffer
}

// lockedBuffer is the master's log: written by exec's copying goroutine,
// read when something goes wrong.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartCluster starts `bpmaster --local-nodes nodes` (and extra flags)
// and waits until every node is up. On failure nothing it started is left
// running.
func StartCluster(bin string, nodes int, extra ...string) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "bproc-bench-")
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	c = &Cluster{Socket: filepath.Join(dir, "master.sock"), Bin: bin, Nodes: nodes,
		dir: dir, exited: make(chan error, 1), log: &lockedBuffer{}}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				err = fmt.Errorf("%w (and stopping it: %v)", err, stopErr)
			}
			c = nil
		}
	}()
	// The process-space rows measure bproc's own costs on nodes that see
	// the master's directories; BenchmarkDiskless asks for --diskless.
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasSuffix(a, "diskless") }) {
		extra = append([]string{"--no-diskless"}, extra...)
	}
	c.master = exec.Command(bin, append([]string{"bpmaster", "--local-nodes", strconv.Itoa(nodes),
		"--socket", c.Socket, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0"}, extra...)...)
	c.master.Stdout, c.master.Stderr = c.log, c.log
	// If the benchmark dies (go test's -timeout panics), the master and
	// with it its nodes must not outlive it.
	c.master.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.master.Start(); err != nil {
		return c, fmt.Errorf("start bpmaster: %w", err)
	}
	go func() { c.exited <- c.master.Wait() }()

	// Nodes come up a few dozen a second on two cores: hundreds take longer.
	wait := 20*time.Second + time.Duration(nodes)*100*time.Millisecond
	deadline := time.Now().Add(wait)
	for {
		up, err := c.nodesUp()
		if up == nodes {
			return c, nil
		}
		select {
		case werr := <-c.exited:
			c.exited <- werr // for Stop
			return c, fmt.Errorf("bpmaster exited while its nodes came up (%v); log:\n%s", werr, c.log)
		default:
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("bpmaster: %d of %d nodes up after %v (last error: %v); log:\n%s", up, nodes, wait, err, c.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) nodesUp() (int, error) {
	cl, err := apiclient.Dial(c.Socket)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	nodes, err := cl.Nodes()
	up := 0
	for _, n := range nodes {
		if n.State == "up" {
			up++
		}
	}
	return up, err
}

// Applet is the path of one of the bproc binary's applet symlinks, as a
// user would type it (bpsh is started through its symlink, not as
// `bproc bpsh`, so argv[0] dispatch is part of what is timed).
func (c *Cluster) Applet(name string) string {
	return filepath.Join(filepath.Dir(c.Bin), name)
}

// Env is the environment of a command run against this cluster: the
// benchmark's own, less any BPROC_SOCKET of the caller's (os.StartProcess
// passes duplicates on, and a Go program's Getenv takes the first).
func (c *Cluster) Env() []string {
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "BPROC_SOCKET=") })
	return append(env, "BPROC_SOCKET="+c.Socket)
}

// Stop sends the master SIGTERM, which is how an operator stops it, and
// checks that it exits cleanly with its nodes and socket gone; then it
// removes the temp dir. SIGKILL only after 15 s, and that is an error.
func (c *Cluster) Stop() error {
	var errs []error
	if c.master != nil && c.master.Process != nil {
		// Its nodes' bpslaves, and whatever runs on the nodes.
		left := descendants(c.master.Process.Pid)
		c.master.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-c.exited:
			if err != nil {
				errs = append(errs, fmt.Errorf("bpmaster exited with %v after SIGTERM", err))
			}
		case <-time.After(15 * time.Second):
			c.master.Process.Kill()
			<-c.exited
			errs = append(errs, errors.New("bpmaster did not stop within 15 s of SIGTERM; killed"))
		}
		// A grace period only for the reaping: the master waits for
		// its nodes before it exits.
		if err := waitGone(left, 2*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("bpmaster's nodes: %w", err))
		}
		if _, err := os.Stat(c.Socket); err == nil {
			errs = append(errs, fmt.Errorf("bpmaster left its socket %s behind", c.Socket))
		}
		if len(errs) > 0 {
			errs = append(errs, fmt.Errorf("bpmaster log:\n%s", c.log))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}
