package procfs

import (
	"fmt"
	"os"
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

// Children is the set of pid's children, of all its threads: the kernel
// lists a child under the thread that forked it, and a Go program forks
// from whichever thread its goroutine runs on.
func Children(pid int) (map[int]bool, error) {
	if pid <= 0 {
		return nil, notPID(pid, "task")
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	tids, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	set := make(map[int]bool)
	for _, name := range tids {
		if tid, err := strconv.Atoi(name); err == nil {
			AddChildren(pid, tid, set) // an error: the thread has ended, its children are another's
		}
	}
	return set, nil
}
