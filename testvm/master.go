package testvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// Master is bpmaster running in the cluster's namespace, where it serves
// DHCP, TFTP and HTTP on the bridge and nodes dial it.
type Master struct {
	Binary string // bin/bproc
	Dir    string // config, log, pidfile, socket, state
	Args   []string
}

func (m *Master) Config() string   { return filepath.Join(m.Dir, "bproc.conf") }
func (m *Master) Socket() string   { return filepath.Join(m.Dir, "master.sock") }
func (m *Master) StateDir() string { return filepath.Join(m.Dir, "state") }
func (m *Master) PIDFile() string  { return filepath.Join(m.Dir, "master.pid") }
func (m *Master) Log() Log         { return Log{filepath.Join(m.Dir, "master.log")} }

// ready is the log line that says the boot services listen; the
// local API socket is up by then or moments after.
var ready = regexp.MustCompile(`netboot: serving`)

// Start runs bpmaster in namespace ns, detached (its own session, so it
// outlives make and a ^C there), logging to Log, and waits until it
// serves or ctx ends. The config file must be written already.
func (m *Master) Start(ctx context.Context, ns string) error {
	if err := os.MkdirAll(m.StateDir(), 0o700); err != nil {
		return err
	}
	os.Remove(m.Socket()) // a crashed master's
	log, err := os.Create(m.Log().Path)
	if err != nil {
		return err
	}
	defer log.Close()
	args := append([]string{"bpmaster", "--config", m.Config(), "--socket", m.Socket(), "--state-dir", m.StateDir()}, m.Args...)
	cmd := NSCommand(ns, m.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bpmaster: %w", err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { // reaps it, if this process lives that long
		exitErr = cmd.Wait()
		close(exited)
	}()
	if err := writePID(m.PIDFile(), cmd.Process.Pid); err != nil {
		return err
	}
	// The first start builds the node image (a few seconds).
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	if _, _, err := m.Log().Wait(wctx, 0, ready); err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("bpmaster exited (%v)", exitErr)
		default:
		}
		return fmt.Errorf("%w; its log:\n%s", err, m.Log().Tail(4096))
	}
	for !socketUp(m.Socket()) {
		select {
		case <-wctx.Done():
			return fmt.Errorf("bpmaster: no socket %s: %w", m.Socket(), wctx.Err())
		case <-time.After(pollInterval):
		}
	}
	return nil
}

func socketUp(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// Reload sends bpmaster SIGHUP, to read its config file again, and waits
// until it has (or said why not: then the error holds its log's line).
func (m *Master) Reload(ctx context.Context) error {
	pid, err := readPID(m.PIDFile())
	if err != nil {
		return fmt.Errorf("bpmaster: %w", err)
	}
	mark := m.Log().Mark()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("bpmaster: SIGHUP: %w", err)
	}
	line, _, err := m.Log().Wait(ctx, mark, regexp.MustCompile(`configuration reloaded|reload: configuration not changed[^\n]*`))
	if err != nil {
		return err
	}
	if line != "configuration reloaded" {
		return fmt.Errorf("bpmaster: %s", line)
	}
	return nil
}

// Stop ends bpmaster with SIGTERM (it closes its services and
// connections), SIGKILL if it takes longer than 10 s.
func (m *Master) Stop() error {
	err := stopPIDFile(m.PIDFile(), m.Config(), 10*time.Second)
	os.Remove(m.Socket())
	return err
}
