package master

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// localNodes are the namespace nodes of --local-nodes: each a bpslave that is
// PID 1 of new PID, mount, UTS and IPC namespaces. When a PID 1 exits the
// kernel kills everything in its PID namespace and the mount namespace goes
// with the last process, so stopping the bpslave leaves nothing behind.
type localNodes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (m *Master) startLocalNodes(ctx context.Context) *localNodes {
	ctx, cancel := context.WithCancel(ctx)
	ln := &localNodes{cancel: cancel}
	for i := 0; i < m.cfg.LocalNodes; i++ {
		ln.wg.Go(func() { m.superviseLocal(ctx, i) })
	}
	return ln
}

func (ln *localNodes) stop() {
	ln.cancel()
	ln.wg.Wait()
}

// superviseLocal keeps node num running until ctx ends, restarting it when it
// dies (a node that reboots comes back empty, as a real one would).
func (m *Master) superviseLocal(ctx context.Context, num int) {
	log := m.log.With("node", num)
	backoff := time.Second
	for ctx.Err() == nil {
		began := time.Now()
		err := m.runLocal(ctx, num, log)
		if ctx.Err() != nil {
			return
		}
		log.Warn("local node exited; restarting", "err", err, "in", backoff)
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runLocal runs one namespace node until it exits or ctx ends; then it is
// sent SIGTERM, and SIGKILL if it has not gone within five seconds.
func (m *Master) runLocal(ctx context.Context, num int, log *slog.Logger) error {
	m.mu.Lock()
	addr := m.nodeAddr
	m.mu.Unlock()
	cmd := exec.Command(m.cfg.Binary, "bpslave",
		"--master", addr, "--node", strconv.Itoa(num),
		"--key", m.keys.NodePath, "--host-key", m.keys.HostPath+".pub",
		"--local")
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Setpgid:    true,
		// A master killed with SIGKILL takes its nodes with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start local node %d: %w", num, err)
	}
	log.Info("local node started", "pid", cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		log.Warn("local node did not stop on SIGTERM; killing it")
		cmd.Process.Kill()
		return <-done
	}
}
