package procfs

import (
	"fmt"
	"strconv"
)

// AddChildren adds to set the children of thread tid of process pid
// (/proc/PID/task/TID/children: a fork makes a child of the calling
// thread, listed there only).
func AddChildren(pid, tid int, set map[int]bool) error {
	if pid <= 0 || tid <= 0 {
		return fmt.Errorf("children of %d/%d: not a PID", pid, tid)
	}
	var nb [32]byte
	name := append(strconv.AppendInt(append(nb[:0], "task/"...), int64(tid), 10), "/children"...)
	var buf [4096]byte
	b, err := readWhole(pid, string(name), buf[:])
	if err != nil {
		return err
	}
	return ParseChildren(b, set)
}

// ParseChildren adds the PIDs of a children file (apart by spaces) to
// set.
func ParseChildren(b []byte, set map[int]bool) error {
	for f, rest := field(b); len(f) > 0; f, rest = field(rest) {
		v, ok := decimal(f)
		if !ok || v == 0 || v > maxInt {
			return fmt.Errorf("children: %q: not a PID", clip(f, 24))
		}
		set[int(v)] = true
	}
	return nil
}
