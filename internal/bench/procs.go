package bench

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// daemon is a process that runs until it is stopped.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
	log    *lockedBuffer
}

func startDaemon(name string, argv ...string) (*daemon, error) {
	d := &daemon{name: name, cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan error, 1), log: &lockedBuffer{}}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	// Like the master: gone with the benchmark, whatever kills it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	return d, nil
}

// running says whether d has not exited yet.
func (d *daemon) running() bool {
	select {
	case err := <-d.exited:
		d.exited <- err
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits; SIGKILL after 5 s, which is an error.
func (d *daemon) stop() error {
	if d == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil // its exit status after SIGTERM says nothing
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("%s did not stop within 5 s of SIGTERM; killed; log:\n%s", d.name, d.log)
	}
}

// children are the PIDs of pid's children: a master's are its nodes'
// bpslaves. Every thread's list is read, not only the main thread's: the
// kernel lists a child under the thread that forked it, and a Go program
// forks from whichever thread its goroutine runs on.
func children(pid int) []int {
	set, _ := procfs.Children(pid)
	return slices.Sorted(maps.Keys(set))
}

// descendants are pid's children, their children, and so on.
func descendants(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		out = append(out, c)
		out = append(out, descendants(c)...)
	}
	return out
}

// waitGone waits until none of pids exists, reaping those that were
// orphaned to this process; past the timeout it SIGKILLs those left and
// says which they were.
func waitGone(pids []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range pids {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil) // if it was left to us; ECHILD otherwise
			if exists(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return fmt.Errorf("processes %v still alive %v after their daemon stopped; killed", alive, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exists says whether pid is a process that has not exited. A zombie has:
// once its daemon is gone, whoever inherits it may be slow to reap it, or
// (in a container whose PID 1 is not an init) never reap it.
func exists(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Ended()
}
