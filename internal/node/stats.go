// readStats reads what bpstat -l shows of a node: load, memory and
// uptime, from the node's own /proc.

package node

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Read reads the stats from the /proc mounted at proc ("/proc" on a node).
func readStats(proc string) (wire.NodeStats, error) {
	s := wire.NodeStats{CPUs: runtime.NumCPU()}
	b, err := os.ReadFile(proc + "/loadavg")
	if err != nil {
		return s, fmt.Errorf("read load: %w", err)
	}
	if s.Load, err = parseLoadavg(b); err != nil {
		return s, err
	}
	if b, err = os.ReadFile(proc + "/meminfo"); err != nil {
		return s, fmt.Errorf("read memory: %w", err)
	}
	if s.MemTotal, s.MemUsed, err = parseMeminfo(b); err != nil {
		return s, err
	}
	if b, err = os.ReadFile(proc + "/uptime"); err != nil {
		return s, fmt.Errorf("read uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return s, fmt.Errorf("%s/uptime: empty", proc)
	}
	if s.Uptime, err = strconv.ParseFloat(f[0], 64); err != nil {
		return s, fmt.Errorf("%s/uptime: %w", proc, err)
	}
	return s, nil
}

// parseLoadavg parses /proc/loadavg ("0.52 0.58 0.59 1/467 12345").
func parseLoadavg(b []byte) ([3]float64, error) {
	var l [3]float64
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, fmt.Errorf("loadavg %q: want three averages", b)
	}
	for i := range l {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return l, fmt.Errorf("loadavg %q: %w", f[i], err)
		}
		l[i] = v
	}
	return l, nil
}

// parseMeminfo returns total memory and memory in use (total less
// MemAvailable, as free(1) counts it), in bytes.
func parseMeminfo(b []byte) (total, used uint64, err error) {
	var avail uint64
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "MemTotal" && name != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("meminfo %s: no value", name)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("meminfo %s: %w", name, err)
		}
		if name == "MemTotal" {
			total, haveTotal = kb*1024, true
		} else {
			avail, haveAvail = kb*1024, true
		}
	}
	if !haveTotal || !haveAvail {
		return 0, 0, fmt.Errorf("meminfo: no MemTotal or MemAvailable")
	}
	if avail > total {
		avail = total
	}
	return total, total - avail, nil
}
