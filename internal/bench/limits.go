package bench

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const pidMaxFile = "/proc/sys/kernel/pid_max"

// pidMaxLimit is the kernel's ceiling for kernel.pid_max on 64-bit.
const pidMaxLimit = 1 << 22

// PIDMax reads kernel.pid_max.
func PIDMax() (int, error) {
	b, err := os.ReadFile(pidMaxFile)
	if err != nil {
		return 0, fmt.Errorf("read kernel.pid_max: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read kernel.pid_max: %w", err)
	}
	return n, nil
}

func setPIDMax(n int) error {
	if err := os.WriteFile(pidMaxFile, []byte(strconv.Itoa(n)), 0o644); err != nil {
		return fmt.Errorf("set kernel.pid_max=%d: %w", n, err)
	}
	return nil
}

// tasks is how many threads the machine has now (loadavg's 4th field is
// running/total scheduling entities): every one of them holds a PID.
func tasks() (int, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: %q", b)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg: %q", b)
	}
	return strconv.Atoi(total)
}

// RaisePIDMax makes room for procs remote processes started on local
// nodes: each takes two PIDs of this machine (its ghost's, and its own in
// the node's namespace, which is also a PID of this one), on top of every
// thread there is now and room for the daemons' threads to grow. If
// kernel.pid_max is too small it is raised to the next power of two, and
// restore puts it back; from and to say what was done (equal: nothing).
func RaisePIDMax(procs int) (from, to int, restore func() error, err error) {
	from, err = PIDMax()
	if err != nil {
		return 0, 0, nil, err
	}
	now, err := tasks()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("count tasks: %w", err)
	}
	need := now + 2*procs + 8192
	if from >= need {
		return from, from, func() error { return nil }, nil
	}
	to = min(1<<bits.Len(uint(need)), pidMaxLimit)
	if err := setPIDMax(to); err != nil {
		return from, from, nil, err
	}
	return from, to, func() error { return setPIDMax(from) }, nil
}

// RaiseNoFile asks for want open files, soft and hard, for this process
// and so for the master and the tools it starts. Without CAP_SYS_RESOURCE
// the hard limit cannot go up: then the soft one is raised to the hard one
// (Go does that for itself anyway, not for its children) and err says why
// no more. got is the soft limit in force; restore puts the old ones back.
func RaiseNoFile(want uint64) (got uint64, restore func() error, err error) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		return 0, nil, fmt.Errorf("getrlimit nofile: %w", err)
	}
	restore = func() error {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old.Cur, Max: old.Max}); err != nil {
			return fmt.Errorf("setrlimit nofile back to %d/%d: %w", old.Cur, old.Max, err)
		}
		return nil
	}
	// syscall.Setrlimit, not unix's: it is the one that tells os/exec to
	// pass this limit on to children rather than the one the process
	// started with.
	if old.Max >= want {
		err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: old.Max})
		if err != nil {
			return old.Cur, restore, fmt.Errorf("setrlimit nofile %d: %w", want, err)
		}
		return want, restore, nil
	}
	err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want})
	if err == nil {
		return want, restore, nil
	}
	why := fmt.Errorf("setrlimit nofile %d: %w (hard limit %d)", want, err, old.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old.Max, Max: old.Max}); err != nil {
		return old.Cur, restore, errors.Join(why, err)
	}
	return old.Max, restore, why
}

// runWithin runs argv once with its output to /dev/null and returns how
// long it took to exit; past timeout it kills the command's whole process
// group (bpsh and the ghosts it started: a bpsh that is only sent SIGTERM
// forwards it and waits on), and says so. A failure's error ends with the
// last of what the command wrote to stderr.
func runWithin(env []string, timeout time.Duration, argv ...string) (time.Duration, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	stderr, err := os.CreateTemp("", "bproc-bench-stderr-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	attr := &os.ProcAttr{Env: env, Files: []*os.File{null, null, stderr},
		Sys: &syscall.SysProcAttr{Setpgid: true}}
	start := time.Now()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	// killed gets the group's members once they are killed. This process
	// is their subreaper from then on, so that it reaps them (the ghosts
	// of a killed bpsh) rather than leave them to a PID 1 that may not.
	killed := make(chan []int, 1)
	t := time.AfterFunc(timeout, func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		members := processGroup(p.Pid)
		syscall.Kill(-p.Pid, syscall.SIGKILL)
		killed <- members
	})
	st, err := p.Wait()
	took := time.Since(start)
	fired := !t.Stop()
	said := func() string {
		b, _ := os.ReadFile(stderr.Name())
		return tail(b, 600)
	}
	if fired {
		gone := waitGone(<-killed, 10*time.Second)
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		return took, errors.Join(fmt.Errorf("%s: not done after %v; killed; its stderr ends: %s",
			strings.Join(argv, " "), timeout, said()), gone)
	}
	if err != nil {
		return took, fmt.Errorf("wait for %s: %w", argv[0], err)
	}
	if !st.Success() {
		return took, fmt.Errorf("%s: %v; its stderr ends: %s", strings.Join(argv, " "), st, said())
	}
	return took, nil
}

// processGroup lists the processes of process group pgid.
func processGroup(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := unix.Getpgid(pid); err == nil && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}
