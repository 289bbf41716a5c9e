package bench

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux the project runs on.
const clockTick = 100

// treeCPU is the CPU time used so far by pid and its descendants: each
// one's own and that of the children it reaped (the remote processes a
// node reaped, counted in its bpslave). A process reaped by one outside
// the tree is not counted; none of the master's are.
func treeCPU(pid int) time.Duration {
	var ticks int64
	for _, p := range append([]int{pid}, descendants(pid)...) {
		st, err := procfs.ReadStat(p)
		if err != nil {
			continue // ended meanwhile: reaped inside the tree, so counted there
		}
		ticks += int64(st.UTime + st.STime + st.CUTime + st.CSTime)
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// cpuOf runs argv and returns the CPU time it and the children it
// reaped used (getrusage's, through wait4).
func cpuOf(env []string, argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, fmt.Errorf("%s: no rusage", argv[0])
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// launchCPU is the CPU time of one run of argv against c: bpsh with its
// ghosts, and the master with its nodes, their view servers and the
// remote processes.
func launchCPU(c *Cluster, argv ...string) (time.Duration, error) {
	before := treeCPU(c.master.Process.Pid)
	own, err := cpuOf(c.Env(), argv...)
	if err != nil {
		return 0, err
	}
	return own + treeCPU(c.master.Process.Pid) - before, nil
}
