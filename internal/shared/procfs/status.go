package procfs

import (
	"bytes"
	"fmt"
)

// Status is what bproc reads of /proc/PID/status. The signal masks hold
// bit sig-1 for signal sig.
type Status struct {
	Tgid, PPid int
	NSPid      int       // the PID in the innermost PID namespace (NSpid's last)
	UID, GID   [4]uint32 // real, effective, saved, file system
	SigPnd     uint64    // pending for the thread
	ShdPnd     uint64    // pending for the process
	SigBlk     uint64    // blocked
	SigIgn     uint64    // ignored (SIG_IGN)
	SigCgt     uint64    // caught (a handler)
	Groups     []uint32  // supplementary groups: ReadStatusGroups only
}

// The lines ParseStatus needs, as bits; Groups only when asked for.
const (
	hasTgid = 1 << iota
	hasPPid
	hasNSPid
	hasUID
	hasGID
	hasSigPnd
	hasShdPnd
	hasSigBlk
	hasSigIgn
	hasSigCgt
	hasGroups
	hasAll = hasGroups - 1
)

// statusKey is the name of the line of bit has.
func statusKey(has int) string {
	switch has {
	case hasTgid:
		return "Tgid"
	case hasPPid:
		return "PPid"
	case hasNSPid:
		return "NSpid"
	case hasUID:
		return "Uid"
	case hasGID:
		return "Gid"
	case hasSigPnd:
		return "SigPnd"
	case hasShdPnd:
		return "ShdPnd"
	case hasSigBlk:
		return "SigBlk"
	case hasSigIgn:
		return "SigIgn"
	case hasSigCgt:
		return "SigCgt"
	}
	return "Groups"
}

// ReadStatus reads /proc/PID/status, without its groups.
func ReadStatus(pid int) (Status, error) { return readStatus(pid, false) }

// ReadStatusGroups reads /proc/PID/status with its groups: one read, so
// that the groups are those of the process the ids are read from.
func ReadStatusGroups(pid int) (Status, error) { return readStatus(pid, true) }

func readStatus(pid int, groups bool) (Status, error) {
	if pid <= 0 {
		return Status{}, notPID(pid, "status")
	}
	// The lines read come before the long ones (Cpus_allowed, on a
	// machine with many CPUs): the file's first 2 kB hold them.
	var buf [2048]byte
	b, err := read(pid, "status", buf[:])
	if err != nil {
		return Status{}, err
	}
	full := len(b) == len(buf)
	if full {
		// Only whole lines: a number cut short would be read wrong.
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	st, err := ParseStatus(b, groups)
	if err != nil && full {
		// A line beyond the buffer (a long Groups line): read it all.
		if b, err = readAll(pid, "status"); err != nil {
			return Status{}, err
		}
		st, err = ParseStatus(b, groups)
	}
	if err != nil {
		return Status{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return st, nil
}

// ParseStatus parses a /proc/PID/status text: "Key:\tvalue" lines. Every
// line Status holds must be there (Groups only with groups), else the
// error names the first missing.
func ParseStatus(b []byte, groups bool) (Status, error) {
	var st Status
	want := hasAll
	if groups {
		want |= hasGroups
	}
	seen := 0
	for len(b) > 0 && seen&want != want {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		has, err := st.set(key, val, groups)
		if err != nil {
			return Status{}, err
		}
		seen |= has
	}
	if missing := want &^ seen; missing != 0 {
		return Status{}, fmt.Errorf("no %s line", statusKey(missing&-missing))
	}
	return st, nil
}

// set stores the value val of the line key, if Status keeps it, and
// says which it was.
func (st *Status) set(key, val []byte, groups bool) (int, error) {
	var mask *uint64
	var has int
	switch string(key) {
	case "Tgid", "PPid":
		v, ok := decimal(bytes.Trim(val, " \t"))
		if !ok || v > maxInt {
			return 0, fmt.Errorf("%s %q: not a number", string(key), clip(val, 24))
		}
		if key[0] == 'T' {
			st.Tgid = int(v)
			return hasTgid, nil
		}
		st.PPid = int(v)
		return hasPPid, nil
	case "NSpid":
		// One PID a namespace, the outermost first.
		var last []byte
		for f, rest := field(val); len(f) > 0; f, rest = field(rest) {
			last = f
		}
		v, ok := decimal(last)
		if !ok || v > maxInt {
			return 0, fmt.Errorf("%s %q: not a PID", string(key), clip(val, 48))
		}
		st.NSPid = int(v)
		return hasNSPid, nil
	case "Uid":
		return hasUID, ids(&st.UID, key, val)
	case "Gid":
		return hasGID, ids(&st.GID, key, val)
	case "Groups":
		if !groups {
			return 0, nil
		}
		g, err := groupList(val)
		st.Groups = g
		return hasGroups, err
	case "SigPnd":
		mask, has = &st.SigPnd, hasSigPnd
	case "ShdPnd":
		mask, has = &st.ShdPnd, hasShdPnd
	case "SigBlk":
		mask, has = &st.SigBlk, hasSigBlk
	case "SigIgn":
		mask, has = &st.SigIgn, hasSigIgn
	case "SigCgt":
		mask, has = &st.SigCgt, hasSigCgt
	default:
		return 0, nil
	}
	v, ok := hex(bytes.Trim(val, " \t"))
	if !ok {
		return 0, fmt.Errorf("%s %q: not a hexadecimal mask", string(key), clip(val, 24))
	}
	*mask = v
	return has, nil
}

// ids parses the four ids of a Uid or Gid line.
func ids(out *[4]uint32, key, val []byte) error {
	n := 0
	for f, rest := field(val); len(f) > 0; f, rest = field(rest) {
		v, ok := decimal(f)
		if !ok || v > 1<<32-1 || n == len(out) {
			return fmt.Errorf("%s %q: not four ids", string(key), clip(val, 48))
		}
		out[n] = uint32(v)
		n++
	}
	if n != len(out) {
		return fmt.Errorf("%s %q: not four ids", string(key), clip(val, 48))
	}
	return nil
}

// groupList parses a Groups line: ids apart by spaces, none at all for a
// process without supplementary groups (an empty list, not nil).
func groupList(val []byte) ([]uint32, error) {
	out := make([]uint32, 0, bytes.Count(val, []byte{' '})+1)
	for f, rest := field(val); len(f) > 0; f, rest = field(rest) {
		v, ok := decimal(f)
		if !ok || v > 1<<32-1 {
			return nil, fmt.Errorf("Groups %q: not a number", clip(f, 24))
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

// hex is the hexadecimal number f, 64 bits at most.
func hex(f []byte) (uint64, bool) {
	if len(f) == 0 || len(f) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range f {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}
