package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine is what a reader of a result needs to compare it with another:
// the same numbers on two cores and on sixty-four mean different things.
type Machine struct {
	Cores    int    `json:"cores"`
	MemoryKB int64  `json:"memory_kb"`
	Kernel   string `json:"kernel"`
	CPU      string `json:"cpu,omitempty"`
	Go       string `json:"go"`
	// Load is /proc/loadavg's 1, 5 and 15 minute averages when the
	// report is made: a run on a machine busy with something else shows
	// in its p90s, and this says why.
	Load string `json:"load,omitempty"`
}

func (m Machine) String() string {
	s := fmt.Sprintf("%d cores, %.1f GiB memory, kernel %s, %s", m.Cores, float64(m.MemoryKB)/(1<<20), m.Kernel, m.Go)
	if m.CPU != "" {
		s += ", " + m.CPU
	}
	if m.Load != "" {
		s += ", load " + m.Load
	}
	return s
}

// ThisMachine describes the machine the benchmarks run on. What it cannot
// read it leaves empty: a missing CPU name is no reason to lose a run.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.MemoryKB = int64(procField("/proc/meminfo", "MemTotal:"))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// procField reads the number of the line starting with key in a /proc
// file of "Key:   N kB" lines (meminfo, status, smaps_rollup), or -1 when
// the file or the line is missing.
func procField(path, key string) float64 {
	v, err := readProcField(path, key)
	if err != nil {
		return -1
	}
	return v
}

func readProcField(path, key string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", path, key, err)
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}

// ThisCommit is the source the binary under test was built from, as far
// as git can tell ("-dirty": with changes not committed), or "" outside a
// work tree.
func ThisCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
