package vmadump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// RestoreInto rebuilds img in process pid, which exists already: a
// process moving back to the master becomes its own ghost, the process
// that has its PID and is its parent's child there (nothing else could
// be: a new process would be someone else's child, and the PID is the
// ghost's). pid keeps its credentials, its session, its pending signals
// and its fds 0-2; it gets an address space of its own first (it may
// share its ghost group's) by executing its own executable, stopped at
// that exec, and is then rebuilt as Restore rebuilds a new stub; the
// descriptors above 2 and the ignored signals its exec kept are undone.
// Attr's Return, Dir and BeforeRun count; the rest is pid's own.
//
// changed says whether pid was touched: on an error with changed false
// it goes on as it was; with changed true it has been killed.
func RestoreInto(img *Image, pid int, a Attr) (changed bool, err error) {
	if err := img.validate(); err != nil {
		return false, err
	}
	t := newTracer()
	defer t.close()
	err = t.do(func() error {
		if err := seize(pid); err != nil {
			return err
		}
		if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_TRACESYSGOOD); err != nil {
			unix.PtraceDetach(pid)
			return fmt.Errorf("ptrace options: %w", err)
		}
		if err := execSelf(pid, img.Comm); err != nil {
			unix.PtraceDetach(pid)
			return err
		}
		changed = true
		if err := rebuildStopped(pid, img, a, &placeAttr{pid: pid}); err != nil {
			unix.Kill(pid, syscall.SIGKILL)
			unix.PtraceDetach(pid)
			return err
		}
		return nil
	})
	if err != nil {
		return changed, fmt.Errorf("vmadump: restore %s into %d: %w", img.Comm, pid, err)
	}
	return changed, nil
}

// execSelf has the stopped tracee pid execute /proc/self/exe (argv
// {name}, no environment) and waits for it to stop at that exec. On error
// it is as it was, registers included.
func execSelf(pid int, name string) error {
	in, _, err := newInjector(pid)
	if err != nil {
		return err
	}
	defer in.mem.Close()
	var saved unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &saved); err != nil {
		return fmt.Errorf("getregs: %w", err)
	}
	// The page stays in the address space left behind, which a ghost
	// group's other ghosts go on using: 4 kB of theirs until they end.
	page, err := in.call(unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return fmt.Errorf("exec page: %w", err)
	}
	undo := func() {
		in.call(unix.SYS_MUNMAP, page, pageSize)
		unix.PtraceSetRegs(pid, &saved)
	}
	if len(name) > 256 {
		name = name[:256]
	}
	b := make([]byte, 1024)
	copy(b, "/proc/self/exe")
	binary.LittleEndian.PutUint64(b[64:], page+128) // argv[0]
	// argv[1] and envp[0]: the zeros at 72
	copy(b[128:], name)
	if err := in.write(page, b); err != nil {
		undo()
		return err
	}
	r := saved
	r.Rip, r.Rax, r.Orig_rax = in.syscall, unix.SYS_EXECVE, ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx = page, page+64, page+72
	if err := unix.PtraceSetRegs(pid, &r); err != nil {
		undo()
		return fmt.Errorf("setregs: %w", err)
	}
	// Stepped from system call stop to system call stop (a single step
	// would leave a trap pending in the new program): enter, the exec,
	// and its exit; an exit with no exec is a failed execve.
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		undo()
		return fmt.Errorf("ptrace syscall: %w", err)
	}
	entered, execed := false, false
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOTHREAD, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		switch {
		case err != nil:
			return fmt.Errorf("wait for %d: %w", pid, err)
		case !ws.Stopped():
			return fmt.Errorf("process %d ended in its exec (%v)", pid, ws)
		case ws.StopSignal() == syscall.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
			execed = true
		case ws.StopSignal() == syscall.SIGTRAP|0x80 && !entered:
			entered = true
		case ws.StopSignal() == syscall.SIGTRAP|0x80 && execed:
			return nil
		case ws.StopSignal() == syscall.SIGTRAP|0x80:
			var after unix.PtraceRegs
			unix.PtraceGetRegs(pid, &after)
			undo()
			return fmt.Errorf("execve /proc/self/exe: %w", syscall.Errno(-int64(after.Rax)))
		}
		// Any other stop goes on: a ghost blocks every signal it can
		// (they stay pending, for the rebuilt process), so this is a
		// stop signal's.
		if err := unix.PtraceSyscall(pid, 0); err != nil {
			if !execed {
				undo()
			}
			return fmt.Errorf("ptrace syscall: %w", err)
		}
	}
}

// placeAttr is what rebuilding in place (RestoreInto) undoes of the exec.
type placeAttr struct{ pid int }

// undoExec closes the descriptors above 2 (a ghost's socket and signalfd:
// the master sees the ghost go) and gives every ignored signal its default
// back; the image's handlers are set after. arg is room in the process.
func (pa *placeAttr) undoExec(in *injector, arg uint64) error {
	if _, err := in.call(unix.SYS_CLOSE_RANGE, 3, uint64(^uint32(0)), 0); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	status, err := procfs.ReadStatus(pa.pid)
	if err != nil {
		return err
	}
	ign := status.SigIgn
	if err := in.write(arg, make([]byte, 32)); err != nil { // SIG_DFL, no flags
		return err
	}
	for sig := 1; sig <= 64; sig++ {
		if ign&(1<<(sig-1)) == 0 {
			continue
		}
		if _, err := in.call(unix.SYS_RT_SIGACTION, uint64(sig), arg, 0, 8); err != nil {
			return fmt.Errorf("rt_sigaction %d: %w", sig, err)
		}
	}
	return nil
}
