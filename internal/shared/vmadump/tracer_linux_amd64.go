package vmadump

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tracer runs every ptrace request for one tracee on one OS thread: Linux
// ties a tracee to the thread that attached it (or forked it with
// PTRACE_TRACEME), not to the process.
type tracer struct {
	work chan func()
	done chan struct{}
}

func newTracer() *tracer {
	t := &tracer{work: make(chan func()), done: make(chan struct{})}
	go func() {
		// Never unlocked: a thread that traced something ends with its
		// goroutine, which detaches whatever it still traces.
		runtime.LockOSThread()
		for {
			select {
			case f := <-t.work:
				f()
			case <-t.done:
				return
			}
		}
	}()
	return t
}

// do runs fn on the tracer's thread.
func (t *tracer) do(fn func() error) error {
	res := make(chan error, 1)
	t.work <- func() { res <- fn() }
	return <-res
}

func (t *tracer) close() { close(t.done) }

// waitStop waits for pid's next stop (the thread must be its tracer) and
// returns the stopping signal; an exit is an error.
func waitStop(pid int) (syscall.Signal, error) {
	for {
		var ws unix.WaitStatus
		// __WNOTHREAD: only this thread's tracees, so that other threads
		// of the process waiting for their children do not see these
		// stops, and these waits do not take their children's exits.
		_, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOTHREAD, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for %d: %w", pid, err)
		}
		switch {
		case ws.Stopped():
			return ws.StopSignal(), nil
		case ws.Exited():
			return 0, fmt.Errorf("process %d exited with %d", pid, ws.ExitStatus())
		case ws.Signaled():
			return 0, fmt.Errorf("process %d killed by %v", pid, ws.Signal())
		}
	}
}

// regsWords and wordsRegs convert between unix.PtraceRegs and the
// image's array (the same 27 words).
func regsWords(r *unix.PtraceRegs) (w [27]uint64) {
	w = *(*[27]uint64)(unsafe.Pointer(r))
	return w
}

func wordsRegs(w [27]uint64) unix.PtraceRegs {
	return *(*unix.PtraceRegs)(unsafe.Pointer(&w))
}

// regsWords and wordsRegs need user_regs_struct to be 27 words: checked
// when compiling (either array has a negative length otherwise), not in
// an initialiser every run of the binary pays for.
var (
	_ [unsafe.Sizeof(unix.PtraceRegs{}) - 27*8]byte
	_ [27*8 - unsafe.Sizeof(unix.PtraceRegs{})]byte
)

// Register sets of PTRACE_GETREGSET.
const (
	ntPRFPREG   = 2
	ntX86XState = 0x202
)

func getRegset(pid, which int, size int) ([]byte, error) {
	buf := make([]byte, size)
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(pid), uintptr(which), uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 {
		return nil, e
	}
	return buf[:iov.Len], nil
}

func setRegset(pid, which int, data []byte) error {
	if len(data) == 0 {
		return errors.New("empty register set")
	}
	buf := append([]byte(nil), data...)
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(pid), uintptr(which), uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// injector makes a stopped tracee run system calls: it points the
// instruction pointer at a syscall instruction of the tracee's, sets the
// arguments, single-steps, and reads the result. Runs on the tracer's
// thread.
type injector struct {
	pid     int
	syscall uint64 // address of a "syscall" instruction in the tracee
	mem     *os.File
}

// newInjector opens pid's memory, a stopped tracee's, and finds a
// syscall instruction in it: an injector, and pid's mappings. The
// caller closes in.mem.
func newInjector(pid int) (in *injector, maps []Mapping, err error) {
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	in = &injector{pid: pid, mem: mem}
	if maps, err = readMaps(pid); err == nil {
		in.syscall, err = findSyscall(mem, maps)
	}
	if err != nil {
		mem.Close()
		return nil, nil, err
	}
	return in, maps, nil
}

// seize makes pid a tracee of this thread, stopped. On an error before
// the stop, pid is let go.
func seize(pid int) error {
	if err := unix.PtraceSeize(pid); err != nil {
		return fmt.Errorf("seize: %w", err)
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		unix.PtraceDetach(pid)
		return fmt.Errorf("interrupt: %w", err)
	}
	_, err := waitStop(pid)
	return err
}

// call runs syscall nr with args in the tracee and returns its result;
// a negative result is the errno.
func (in *injector) call(nr uintptr, args ...uint64) (uint64, error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(in.pid, &r); err != nil {
		return 0, fmt.Errorf("getregs: %w", err)
	}
	r.Rip = in.syscall
	r.Rax = uint64(nr)
	// -1: no system call to restart; the tracee may be stopped inside
	// one (an interrupted read), and the kernel would otherwise restart
	// that instead of running this.
	r.Orig_rax = ^uint64(0)
	var a [6]uint64
	copy(a[:], args)
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	if err := unix.PtraceSetRegs(in.pid, &r); err != nil {
		return 0, fmt.Errorf("setregs: %w", err)
	}
	if err := unix.PtraceSingleStep(in.pid); err != nil {
		return 0, fmt.Errorf("singlestep: %w", err)
	}
	for {
		sig, err := waitStop(in.pid)
		if err != nil {
			return 0, err
		}
		if sig == syscall.SIGTRAP {
			break
		}
		// Another signal arrived meanwhile: it stays pending (the tracee
		// gets it when it runs for real); step again.
		if err := unix.PtraceSingleStep(in.pid); err != nil {
			return 0, fmt.Errorf("singlestep: %w", err)
		}
	}
	if err := unix.PtraceGetRegs(in.pid, &r); err != nil {
		return 0, fmt.Errorf("getregs: %w", err)
	}
	if r.Rip != in.syscall+2 {
		return 0, fmt.Errorf("syscall %d: stopped at %#x, not after the instruction", nr, r.Rip)
	}
	if int64(r.Rax) < 0 && int64(r.Rax) > -4096 {
		return 0, syscall.Errno(-int64(r.Rax))
	}
	return r.Rax, nil
}

// write puts data at addr in the tracee (through /proc/PID/mem, which
// writes read-only pages too).
func (in *injector) write(addr uint64, data []byte) error {
	for len(data) > 0 {
		n, err := in.mem.WriteAt(data, int64(addr))
		if err != nil {
			return fmt.Errorf("write %d bytes at %#x: %w", len(data), addr, err)
		}
		data, addr = data[n:], addr+uint64(n)
	}
	return nil
}

func (in *injector) read(addr uint64, n int) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := in.mem.ReadAt(buf, int64(addr)); err != nil {
		return nil, fmt.Errorf("read %d bytes at %#x: %w", n, addr, err)
	}
	return buf, nil
}
