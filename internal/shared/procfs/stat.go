package procfs

import (
	"bytes"
	"fmt"
	"strconv"
)

// Stat is what bproc reads of /proc/PID/stat, by the field numbers of
// proc(5).
type Stat struct {
	State                          byte   // 3: R, S, D, T, t, Z, X, ...
	PPid, Pgrp, Session            int    // 4, 5, 6
	UTime, STime, CUTime, CSTime   uint64 // 14-17, clock ticks
	Threads                        int    // 20
	StartTime                      uint64 // 22, clock ticks after boot
	StartCode, EndCode, StartStack uint64 // 26-28
	SigIgnore                      uint64 // 33: signals 1-31 only (bit sig-1)
	StartData, EndData, StartBrk   uint64 // 45-47
	ArgStart, ArgEnd               uint64 // 48, 49: the argument area
	EnvStart, EnvEnd               uint64 // 50, 51: the environment
	ExitCode                       uint64 // 52: a zombie's wait status; 0 alive, or to a reader without ptrace access
}

// statFields is how many fields every kernel bproc runs on shows (exit_code,
// field 52, came with Linux 3.5): fewer is a file cut short.
const statFields = 52

// Ended: the process is a zombie (or dead, X, for an instant): it has
// exited and is not reaped yet.
func (s Stat) Ended() bool { return s.State == 'Z' || s.State == 'X' }

// Stopped: the process is stopped by a signal (T); a tracer's stop (t) is
// not a job control stop.
func (s Stat) Stopped() bool { return s.State == 'T' }

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	if pid <= 0 {
		return Stat{}, notPID(pid, "stat")
	}
	return readStat(pid)
}

// ReadSelfStat reads /proc/self/stat: this process's as the /proc mounted
// numbers it, which in a PID namespace of its own may be another's.
func ReadSelfStat() (Stat, error) { return readStat(self) }

func readStat(pid int) (Stat, error) {
	var buf [1024]byte
	b, err := readWhole(pid, "stat", buf[:])
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("%s: %w", statPath(pid), err)
	}
	return st, nil
}

// statPath names pid's stat file in an error.
func statPath(pid int) string {
	if pid == self {
		return "/proc/self/stat"
	}
	return "/proc/" + strconv.Itoa(pid) + "/stat"
}

// ParseStat parses a /proc/PID/stat text: "pid (comm) state ppid ...".
// The command name may hold anything, spaces and parentheses too: the
// fields count from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	var st Stat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("no ')' after the command name in %q", clip(b, 40))
	}
	n := 2 // comm's: the fields after it are 3 on
	for f, rest := field(b[i+1:]); len(f) > 0; f, rest = field(rest) {
		n++
		if err := st.set(n, f); err != nil {
			return Stat{}, err
		}
	}
	if n < statFields {
		return Stat{}, fmt.Errorf("%d fields, want %d: cut short", n, statFields)
	}
	return st, nil
}

// set stores field n, f, if Stat keeps it.
func (st *Stat) set(n int, f []byte) error {
	var u *uint64
	var i *int
	switch n {
	case 3:
		if len(f) != 1 {
			return fmt.Errorf("field 3 (state) %q: not one letter", clip(f, 20))
		}
		st.State = f[0]
		return nil
	case 4:
		i = &st.PPid
	case 5:
		i = &st.Pgrp
	case 6:
		i = &st.Session
	case 14:
		u = &st.UTime
	case 15:
		u = &st.STime
	case 16:
		u = &st.CUTime
	case 17:
		u = &st.CSTime
	case 20:
		i = &st.Threads
	case 22:
		u = &st.StartTime
	case 26:
		u = &st.StartCode
	case 27:
		u = &st.EndCode
	case 28:
		u = &st.StartStack
	case 33:
		u = &st.SigIgnore
	case 45:
		u = &st.StartData
	case 46:
		u = &st.EndData
	case 47:
		u = &st.StartBrk
	case 48:
		u = &st.ArgStart
	case 49:
		u = &st.ArgEnd
	case 50:
		u = &st.EnvStart
	case 51:
		u = &st.EnvEnd
	case 52:
		u = &st.ExitCode
	default:
		return nil
	}
	v, ok := decimal(f)
	if !ok || i != nil && v > maxInt {
		return fmt.Errorf("field %d %q: not a number", n, clip(f, 24))
	}
	if i != nil {
		*i = int(v)
	} else {
		*u = v
	}
	return nil
}

const maxInt = uint64(^uint(0) >> 1)

// decimal is the unsigned decimal number f, without strconv's conversion
// of f to a string.
func decimal(f []byte) (uint64, bool) {
	if len(f) == 0 || len(f) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// clip is the start of b, at most n bytes, for an error: a copy, so that
// b (a buffer on a caller's stack) does not move to the heap for it.
func clip(b []byte, n int) string { return string(b[:min(n, len(b))]) }

// field splits the first field off b: fields are apart by spaces, tabs
// and newlines. bytes.FieldsSeq would move b to the heap.
func field(b []byte) (f, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' {
		j++
	}
	return b[i:j], b[j:]
}
