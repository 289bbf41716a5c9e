package master

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/pdeathsig"
	"github.com/bproc/bproc/internal/shared/wire"
)

// localNodes are the namespace nodes of --local-nodes: each a bpslave that is
// PID 1 of new PID, mount, UTS and IPC namespaces. When a PID 1 exits the
// kernel kills everything in its PID namespace and the mount namespace goes
// with the last process, so stopping the bpslave leaves nothing behind.
type localNodes struct {
	m      *Master
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unlock func() // drops the master lock (nodes_local_lock.go)
}

// bpslaveTokenEnv is where bpslave takes its boot token from
// (applets/bpslave.TokenEnv).
const bpslaveTokenEnv = "BPROC_TOKEN"

// localNode is the supervisor of one namespace node; bpctl's actions reach
// it through ctl.
type localNode struct {
	ctl chan string // reboot, halt or pwroff
}

// control hands an action to the supervisor; a second one while the first
// is under way is dropped, as pressing reset twice would be.
func (ln *localNode) control(action string) {
	select {
	case ln.ctl <- action:
	default:
	}
}

// awaitReboot keeps a halted node down until it is rebooted; false when
// the master is stopping instead.
func (ln *localNode) awaitReboot(ctx context.Context) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case action := <-ln.ctl:
			if action == wire.ActionReboot {
				return true
			}
		}
	}
}

func (m *Master) startLocalNodes(ctx context.Context) *localNodes {
	m.stopStrayLocal()
	ctx, cancel := context.WithCancel(ctx)
	lns := &localNodes{m: m, cancel: cancel, unlock: func() {}}
	if m.cfg.LocalNodes > 0 {
		lns.unlock = m.holdMasterLock()
	}
	m.mu.Lock()
	m.local = make(map[int]*localNode, m.cfg.LocalNodes)
	for i := 0; i < m.cfg.LocalNodes; i++ {
		ln := &localNode{ctl: make(chan string, 1)}
		m.local[i] = ln
		lns.wg.Go(func() { m.superviseLocal(ctx, i, ln) })
	}
	m.mu.Unlock()
	return lns
}

// stop stops the nodes, leaving nothing behind: their processes' ghosts
// end with the master instead of waiting for a next one.
func (lns *localNodes) stop() {
	lns.m.endLocalGhosts()
	lns.cancel()
	lns.wg.Wait()
	lns.unlock()
}

// superviseLocal keeps node num running until ctx ends: a node that dies is
// started again (with backoff), a reboot starts a new one at once (it comes
// back empty, as a real one would), and a halted node stays down until it
// is rebooted.
func (m *Master) superviseLocal(ctx context.Context, num int, ln *localNode) {
	log := m.log.With("node", num)
	backoff := time.Second
	for ctx.Err() == nil {
		began := time.Now()
		action, err := m.runLocal(ctx, num, ln, log)
		if ctx.Err() != nil {
			return
		}
		// Its PID namespace ended with its PID 1: nothing of it is kept.
		m.dropKept(num, "the namespace node ended")
		switch action {
		case wire.ActionReboot:
			log.Info("local node rebooting")
			continue
		case wire.ActionHalt, wire.ActionPwroff:
			log.Info("local node halted; bpctl --reboot starts it again", "action", action)
			if !ln.awaitReboot(ctx) {
				return
			}
			continue
		}
		log.Warn("local node exited; restarting", "err", err, "in", backoff)
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case action := <-ln.ctl:
			if action != wire.ActionReboot && !ln.awaitReboot(ctx) {
				return
			}
			continue
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runLocal runs one namespace node until it exits, ctx ends or an action
// comes; then it is sent SIGTERM, and SIGKILL if it has not gone within
// five seconds. It returns the action that stopped it, if one did. A node
// a previous master started with the same command is taken instead of
// starting one (nodes_local_keep.go).
func (m *Master) runLocal(ctx context.Context, num int, ln *localNode, log *slog.Logger) (string, error) {
	m.mu.Lock()
	addr := m.nodeAddr
	m.mu.Unlock()
	args := []string{m.cfg.Binary, "bpslave",
		"--master", addr, "--node", strconv.Itoa(num),
		"--host-key", m.keys.HostPath + ".pub",
		"--local", "--tmp-size", strconv.FormatInt(m.localTmpSize(), 10)}
	if m.cfg.Diskless {
		args = append(args, "--diskless", "--cache-size", strconv.FormatInt(m.cfg.CacheSize, 10))
	}
	if m.cfg.Diskless && m.cfg.PushOnly {
		args = append(args, "--push-only")
	}
	run := m.takeLocal(num, args, log)
	if run == nil {
		var err error
		if run, err = m.startLocal(num, args, log); err != nil {
			return "", err
		}
	}
	if err := m.noteLocal(num, run.pid); err != nil {
		log.Warn("a next master will not take this local node back", "err", err)
	}
	defer m.forgetLocal(num)
	action := ""
	select {
	case err := <-run.done:
		return "", err
	case <-ctx.Done():
	case action = <-ln.ctl:
	}
	return action, stopLocal(run, log)
}

// startLocal starts node num as the master's child, running args.
func (m *Master) startLocal(num int, args []string, log *slog.Logger) (*localRun, error) {
	// Each start is a boot: a token of its own, in the environment of
	// the child alone (readable by root only, and bpslave drops it at
	// once), good for this node from any address (local nodes dial
	// loopback).
	token, err := m.tokens.Mint(num, nil, netip.Addr{}, 0)
	if err != nil {
		return nil, fmt.Errorf("start local node %d: %w", num, err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bpslaveTokenEnv + "=" + token}
	// The process space is on unless bpmaster was started with it off
	// (BPROC_SPACE=0, internal/node/space.go).
	// So does Go's GOTRACEBACK, which says how much a node that crashes
	// or is sent SIGQUIT prints of its goroutines.
	for _, k := range []string{"BPROC_SPACE", "GOTRACEBACK"} {
		if v := os.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Setpgid:    true,
		// A master killed with SIGKILL leaves its nodes to the next
		// master: this tells them it is gone (node/orphan.go).
		Pdeathsig: wire.OrphanSignal,
	}
	if err := pdeathsig.Start(cmd); err != nil {
		return nil, fmt.Errorf("start local node %d: %w", num, err)
	}
	log.Info("local node started", "pid", cmd.Process.Pid)
	return childRun(cmd), nil
}
