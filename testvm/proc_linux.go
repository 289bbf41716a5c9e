package testvm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// The cluster's processes (QEMU, bpmaster) outlive the program that
// started them (make cluster returns while they run), so they are found
// again by pidfile, or by namespace after a crash. A PID is only
// signalled when its command line contains the cluster's directory: a
// stale pidfile must not kill whatever process got the number since.

// readPID reads a pidfile; 0 when there is none.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s: %q is not a PID", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

func writePID(path string, pid int) error {
	return os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// alive says whether pid runs. A zombie does not: it has ended, and its
// parent (perhaps this process) just has not reaped it yet.
func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Ended()
}

// cmdlineHas says whether pid's command line contains mark.
func cmdlineHas(pid int, mark string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte(mark))
}

// stop sends SIGTERM to pid if it is ours (its command line has mark),
// waits up to grace for it to end, then sends SIGKILL and waits again.
// A process that is gone already is no error.
func stop(pid int, mark string, grace time.Duration) error {
	if pid <= 0 || !alive(pid) || !cmdlineHas(pid, mark) {
		return nil
	}
	return stopAll([]int{pid}, grace)
}

// stopAll ends processes together: SIGTERM to all, up to grace for them
// to end, SIGKILL to the rest. Then it gives whoever is their parent
// (init, for a daemonized QEMU, which may reap lazily) a moment to reap
// them, so that no zombie is seen after it returns; a parent that takes
// longer is not an error.
func stopAll(pids []int, grace time.Duration) error {
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	waitAll(pids, grace, alive)
	var left []string
	for _, pid := range pids {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	waitAll(pids, 5*time.Second, alive)
	for _, pid := range pids {
		if alive(pid) {
			left = append(left, strconv.Itoa(pid))
		}
	}
	waitAll(pids, 2*time.Second, func(pid int) bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		return err == nil
	})
	if len(left) > 0 {
		return fmt.Errorf("pids %s survived SIGKILL", strings.Join(left, " "))
	}
	return nil
}

// waitAll polls until there is none of pids for which still is true, or
// d has passed.
func waitAll(pids []int, d time.Duration, still func(pid int) bool) {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		some := false
		for _, pid := range pids {
			some = some || still(pid)
		}
		if !some || time.Now().After(end) {
			return
		}
	}
}

// stopPIDFile stops the process a pidfile names and removes the file.
func stopPIDFile(path, mark string, grace time.Duration) error {
	pid, err := readPID(path)
	if err != nil {
		os.Remove(path)
		return err
	}
	if err := stop(pid, mark, grace); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
