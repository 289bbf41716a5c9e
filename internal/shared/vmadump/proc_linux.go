package vmadump

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// readMaps parses /proc/PID/maps.
func readMaps(pid int) ([]Mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		m, err := parseMapsLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/maps: %w", pid, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// parseMapsLine reads "start-end perms offset dev inode path".
func parseMapsLine(line string) (Mapping, error) {
	var m Mapping
	f := strings.Fields(line)
	if len(f) < 5 {
		return m, fmt.Errorf("short line %q", line)
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	off, err3 := strconv.ParseUint(f[2], 16, 64)
	if !ok || err1 != nil || err2 != nil || err3 != nil || len(f[1]) != 4 {
		return m, fmt.Errorf("bad line %q", line)
	}
	m.Start, m.End, m.Offset = start, end, off
	if f[1][0] == 'r' {
		m.Prot |= unix.PROT_READ
	}
	if f[1][1] == 'w' {
		m.Prot |= unix.PROT_WRITE
	}
	if f[1][2] == 'x' {
		m.Prot |= unix.PROT_EXEC
	}
	m.Shared = f[1][3] == 's'
	if len(f) > 5 {
		// The path is the rest of the line, spaces and all.
		i := strings.Index(line, f[5])
		m.Path = line[i:]
	}
	return m, nil
}

// Bits of a /proc/PID/pagemap entry.
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // file page or shared anonymous
)

// pagemap returns the entries of pages [start, end) of pid.
func pagemap(f *os.File, start, end uint64) ([]uint64, error) {
	n := (end - start) / pageSize
	buf := make([]byte, n*8)
	if _, err := f.ReadAt(buf, int64(start/pageSize*8)); err != nil {
		return nil, fmt.Errorf("pagemap %#x-%#x: %w", start, end, err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return out, nil
}

// readLayout reads the memory layout fields of /proc/PID/stat (the brk
// itself is not there; the caller asks the process).
func readLayout(pid int) (Layout, error) {
	var l Layout
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return l, err
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return l, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state).
	field := func(n int) uint64 {
		if n-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseUint(f[n-3], 10, 64)
		return v
	}
	l.StartCode, l.EndCode, l.StartStack = field(26), field(27), field(28)
	l.StartData, l.EndData, l.StartBrk = field(45), field(46), field(47)
	l.ArgStart, l.ArgEnd, l.EnvStart, l.EnvEnd = field(48), field(49), field(50), field(51)
	if l.EnvEnd == 0 {
		return l, fmt.Errorf("/proc/%d/stat: no layout fields (kernel too old?)", pid)
	}
	return l, nil
}

// sigBlocked reads the blocked signal mask from /proc/PID/status.
func sigBlocked(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no SigBlk", pid)
}

// sigIgnored is the set of signals pid ignores (SigIgn), bit sig-1 for
// sig.
func sigIgnored(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no SigIgn", pid)
}

// sigDisposed is the set of signals pid catches or ignores (SigCgt and
// SigIgn of /proc/PID/status), bit sig-1 for sig.
func sigDisposed(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	var set uint64
	for _, line := range strings.Split(string(b), "\n") {
		for _, key := range []string{"SigCgt:", "SigIgn:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					return 0, fmt.Errorf("/proc/%d/status: %s %w", pid, key, err)
				}
				set |= n
			}
		}
	}
	return set, nil
}

// threads counts the threads of pid.
func threads(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(ents), err
}
