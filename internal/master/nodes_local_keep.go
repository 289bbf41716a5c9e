package master

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// Namespace nodes of --local-nodes outlive a master killed (SIGKILL, a
// crash): they are not killed with it (their parent-death signal is
// wire.OrphanSignal, which tells them their master is gone), keep their
// processes for the grace time and dial the same address again. The
// master writes where each runs in the state directory (local/N: its PID
// and start time); the next master started there with the same
// --local-nodes takes each node that still runs the command it would
// start itself, instead of starting a second node N beside it, and
// watches and stops it through a pidfd as it would its child. A clean
// stop (SIGTERM, SIGINT) still stops them, leaving nothing behind.

// localDir is where the master notes its running namespace nodes.
func (m *Master) localDir() string { return filepath.Join(m.cfg.StateDir, "local") }

// localRun is one running namespace node: the master's child, or a node
// a previous master started (taken).
type localRun struct {
	pid    int
	done   chan error // its end
	signal func(syscall.Signal)
}

// localRecord is the line of local/N: the node's PID and its start time
// (the 22nd field of /proc/PID/stat), which pins the process against a
// reused PID.
type localRecord struct {
	pid   int
	start uint64
}

// parseLocalRecord reads a local/N file.
func parseLocalRecord(b []byte) (localRecord, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return localRecord{}, fmt.Errorf("want PID and start time, got %d fields", len(f))
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return localRecord{}, fmt.Errorf("PID %q: want a number above 1", f[0])
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return localRecord{}, fmt.Errorf("start time %q: %w", f[1], err)
	}
	return localRecord{pid, start}, nil
}

// procStart is the start time of process pid, in clock ticks after boot.
func procStart(pid int) (uint64, error) {
	st, err := procfs.ReadStat(pid)
	return st.StartTime, err
}

// noteLocal writes where node num runs, for a next master.
func (m *Master) noteLocal(num, pid int) error {
	start, err := procStart(pid)
	if err != nil {
		return fmt.Errorf("note local node %d: %w", num, err)
	}
	if err := os.MkdirAll(m.localDir(), 0o700); err != nil {
		return fmt.Errorf("note local node %d: %w", num, err)
	}
	path := filepath.Join(m.localDir(), strconv.Itoa(num))
	tmp := path + ".new"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", pid, start), 0o600); err != nil {
		return fmt.Errorf("note local node %d: %w", num, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("note local node %d: %w", num, err)
	}
	return nil
}

// forgetLocal removes the note of node num, once it has ended.
func (m *Master) forgetLocal(num int) {
	os.Remove(filepath.Join(m.localDir(), strconv.Itoa(num)))
}

// findLocal finds node num a previous master noted, if it still runs,
// and the command it runs; nil if none does. The note is removed: noted
// again once taken or started.
func (m *Master) findLocal(num int, log *slog.Logger) (*localRun, []string) {
	path := filepath.Join(m.localDir(), strconv.Itoa(num))
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	defer os.Remove(path)
	if err != nil {
		log.Warn("local node of a previous master: not taken", "err", err)
		return nil, nil
	}
	rec, err := parseLocalRecord(b)
	if err != nil {
		log.Warn("local node of a previous master: not taken", "file", path, "err", err)
		return nil, nil
	}
	pidfd, err := unix.PidfdOpen(rec.pid, 0)
	if err != nil {
		return nil, nil // gone
	}
	// The pidfd pins the process: checked after it, the start time says
	// the PID is still the node's.
	if start, err := procStart(rec.pid); err != nil || start != rec.start {
		unix.Close(pidfd)
		return nil, nil
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", rec.pid))
	return pidfdRun(rec.pid, pidfd), strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
}

// takeLocal takes node num from a previous master, if it noted one that
// still runs: nil if there is none. A node that runs another command
// than args (another address, --no-diskless...) is stopped first: it
// would not come back to this master as the node it means.
func (m *Master) takeLocal(num int, args []string, log *slog.Logger) *localRun {
	run, cmdline := m.findLocal(num, log)
	switch {
	case run == nil:
		return nil
	case !slices.Equal(cmdline, args):
		log.Warn("local node of a previous master runs another command; stopping it", "pid", run.pid)
		stopLocal(run, log)
		return nil
	}
	log.Info("local node of a previous master taken back", "pid", run.pid)
	return run
}

// pidfdRun watches and signals a node that is not the master's child.
func pidfdRun(pid, pidfd int) *localRun {
	run := &localRun{pid: pid, done: make(chan error, 1)}
	run.signal = func(sig syscall.Signal) { unix.PidfdSendSignal(pidfd, sig, nil, 0) }
	go func() {
		// A pidfd polls readable once its process has ended; its parent
		// (init, or a subreaper) reaps it.
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(pidfd)
		run.done <- fmt.Errorf("local node (PID %d, a previous master's) ended", pid)
	}()
	return run
}

// childRun watches and signals a node the master started.
func childRun(cmd *exec.Cmd) *localRun {
	run := &localRun{pid: cmd.Process.Pid, done: make(chan error, 1)}
	run.signal = func(sig syscall.Signal) { cmd.Process.Signal(sig) }
	go func() { run.done <- cmd.Wait() }()
	return run
}

// stopLocal sends run SIGTERM, and SIGKILL if it has not gone within
// five seconds, and returns how it ended. A node that a SIGKILL does not
// end within ten seconds more (a process of it stuck in the kernel, as a
// FUSE server waiting on its own mount once was) is left, said so,
// rather than hold the master's stop for good.
func stopLocal(run *localRun, log *slog.Logger) error {
	return stopLocalWithin(run, log, 5*time.Second, 10*time.Second)
}

// stopLocalWithin is stopLocal with its waits: for SIGTERM, then for
// SIGKILL.
func stopLocalWithin(run *localRun, log *slog.Logger, term, kill time.Duration) error {
	run.signal(syscall.SIGTERM)
	select {
	case err := <-run.done:
		return err
	case <-time.After(term):
	}
	log.Warn("local node did not stop on SIGTERM; killing it")
	run.signal(syscall.SIGKILL)
	select {
	case err := <-run.done:
		return err
	case <-time.After(kill):
		log.Error("local node did not end after SIGKILL: leaving it", "pid", run.pid)
		return fmt.Errorf("local node (PID %d) did not end after SIGKILL", run.pid)
	}
}

// stopStrayLocal stops the nodes a previous master noted beyond this
// master's --local-nodes: none will take them.
func (m *Master) stopStrayLocal() {
	ents, _ := os.ReadDir(m.localDir())
	for _, e := range ents {
		num, err := strconv.Atoi(e.Name())
		if err != nil || num < m.cfg.LocalNodes {
			continue
		}
		log := m.log.With("node", num)
		if run, _ := m.findLocal(num, log); run != nil {
			log.Warn("local node of a previous master beyond --local-nodes; stopping it", "pid", run.pid)
			stopLocal(run, log)
		}
	}
}
