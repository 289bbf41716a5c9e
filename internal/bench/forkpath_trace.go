package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// errNoTracefs says the kernel's tracing file system is not there (or
// not writable): the fork path cannot be traced on this machine.
var errNoTracefs = errors.New("no writable tracefs at /sys/kernel/tracing")

// forkPathEvents are the events parseForkLoop reads.
var forkPathEvents = []string{
	"syscalls:sys_enter_vfork", "syscalls:sys_exit_vfork",
	"syscalls:sys_enter_execve", "syscalls:sys_exit_execve",
	"syscalls:sys_enter_exit_group",
	"syscalls:sys_enter_wait4", "syscalls:sys_exit_wait4",
	"sched:sched_process_exit",
}

// traceInstances numbers this process's tracing instances.
var traceInstances atomic.Int64

// traceForkLoop runs `sh -c 'for i in $(seq n); do /bin/true; done'` on
// c's node 0 with forkPathEvents traced, and returns its iterations. The
// trace is an ftrace instance of its own (others tracing meanwhile are
// not disturbed), limited to c's node processes and what they start
// (set_event_pid with event-fork: not the master's ghosts), and removed
// after.
func traceForkLoop(c *Cluster, n int) ([]iteration, error) {
	root := "/sys/kernel/tracing"
	if _, err := os.Stat(filepath.Join(root, "trace")); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoTracefs, err)
	}
	dir := filepath.Join(root, "instances", fmt.Sprintf("bproc-bench-%d-%d", os.Getpid(), traceInstances.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoTracefs, err)
	}
	defer func() {
		os.WriteFile(filepath.Join(dir, "tracing_on"), []byte("0"), 0)
		os.WriteFile(filepath.Join(dir, "set_event"), nil, 0)
		os.Remove(dir)
	}()
	// Every thread of the node's processes: a child of a traced thread is
	// traced (event-fork), and bpslave's Go code forks from any of them.
	var pids []string
	for _, p := range descendants(c.master.Process.Pid) {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			pids = append(pids, t.Name())
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("trace: the master (PID %d) has no node processes", c.master.Process.Pid)
	}
	for _, w := range []struct{ file, value string }{
		{"tracing_on", "0"},
		{"buffer_size_kb", "16384"},
		{"options/event-fork", "1"},
		{"set_event_pid", strings.Join(pids, " ")},
		{"set_event", strings.Join(forkPathEvents, "\n")},
		{"tracing_on", "1"},
	} {
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.value), 0); err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
	}
	cmd := exec.Command(c.Applet("bpsh"), "0", "/bin/sh", "-c", fmt.Sprintf("for i in $(seq %d); do /bin/true; done", n))
	cmd.Env = c.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("trace: bpsh: %w: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "tracing_on"), []byte("0"), 0); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "trace"))
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if bytes.Contains(text, []byte("LOST")) {
		return nil, fmt.Errorf("trace: the buffer lost events (buffer_size_kb too small for %d iterations)", n)
	}
	return parseForkLoop(bytes.NewReader(text))
}
