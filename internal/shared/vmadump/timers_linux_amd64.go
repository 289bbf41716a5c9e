package vmadump

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// movable refuses what a move cannot carry honestly: a file mapped
// shared, POSIX timers. Dump checks before it reads any memory.
func movable(pid int, maps []Mapping) error {
	for _, m := range maps {
		if m.Shared && !m.Anonymous() && !strings.HasSuffix(m.Path, " (deleted)") {
			return &SharedFileError{Path: m.Path}
		}
	}
	// Listed only with CONFIG_CHECKPOINT_RESTORE; without it a process
	// with POSIX timers cannot be told from one without.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timers", pid)); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return ErrPOSIXTimers
	}
	return nil
}

// getITimers has the process read its interval timers (getitimer runs
// only in the process itself) into scratch, a page of its; the ones
// running are returned.
func getITimers(in *injector, scratch uint64) ([]ITimer, error) {
	var out []ITimer
	for which := itimerReal; which <= itimerProf; which++ {
		if _, err := in.call(unix.SYS_GETITIMER, uint64(which), scratch); err != nil {
			return nil, fmt.Errorf("getitimer %d: %w", which, err)
		}
		b, err := in.read(scratch, 32)
		if err != nil {
			return nil, err
		}
		us := func(off int) int64 {
			return int64(binary.LittleEndian.Uint64(b[off:]))*1e6 + int64(binary.LittleEndian.Uint64(b[off+8:]))
		}
		t := ITimer{Which: which, Interval: us(0), Value: us(16)}
		if t.Value != 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// setITimers sets the process's interval timers: ts, and every other one
// stopped. arg is room for a struct itimerval in the process.
func setITimers(in *injector, arg uint64, ts []ITimer) error {
	var want [3]ITimer
	for _, t := range ts {
		want[t.Which] = t
	}
	for which, t := range want {
		var b []byte
		for _, v := range []int64{t.Interval, t.Value} {
			b = binary.LittleEndian.AppendUint64(b, uint64(v/1e6))
			b = binary.LittleEndian.AppendUint64(b, uint64(v%1e6))
		}
		if err := in.write(arg, b); err != nil {
			return err
		}
		if _, err := in.call(unix.SYS_SETITIMER, uint64(which), arg, 0); err != nil {
			return fmt.Errorf("setitimer %d: %w", which, err)
		}
	}
	return nil
}

// StopTimers stops the interval timers of the stopped process: what was
// the process becomes a ghost once its copy runs elsewhere with them, and
// the stub it executes would keep them running (exec keeps them) and
// relay their signals as if sent to it.
func (s *Stopped) StopTimers() error {
	return s.t.do(func() error {
		var regs unix.PtraceRegs
		if err := unix.PtraceGetRegs(s.pid, &regs); err != nil {
			return fmt.Errorf("getregs: %w", err)
		}
		defer unix.PtraceSetRegs(s.pid, &regs)
		in, _, err := newInjector(s.pid)
		if err != nil {
			return err
		}
		defer in.mem.Close()
		scratch, err := in.call(unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
		if err != nil {
			return fmt.Errorf("scratch page: %w", err)
		}
		defer in.call(unix.SYS_MUNMAP, scratch, pageSize)
		return setITimers(in, scratch, nil)
	})
}
