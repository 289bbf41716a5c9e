package vmadump

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
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
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{StartCode: st.StartCode, EndCode: st.EndCode, StartStack: st.StartStack,
		StartData: st.StartData, EndData: st.EndData, StartBrk: st.StartBrk,
		ArgStart: st.ArgStart, ArgEnd: st.ArgEnd, EnvStart: st.EnvStart, EnvEnd: st.EnvEnd}
	if l.EnvEnd == 0 {
		// The kernel shows 0 to one that may not read the process.
		return l, fmt.Errorf("/proc/%d/stat: no layout fields (not permitted?)", pid)
	}
	return l, nil
}

// threads counts the threads of pid.
func threads(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(ents), err
}
