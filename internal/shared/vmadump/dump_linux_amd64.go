package vmadump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// ErrThreads is returned for a process with more than one thread: its
// other threads' registers and stacks would be lost.
var ErrThreads = errors.New("vmadump: the process has more than one thread")

// Stopped is a process Dump read, held stopped under ptrace.
type Stopped struct {
	t   *tracer
	pid int
	mem *os.File // its memory, which its image reads as it is encoded
}

// Resume lets the process go on where it was (it never noticed). Its
// image's memory is no longer readable.
func (s *Stopped) Resume() error {
	defer s.t.close()
	s.mem.Close()
	return s.t.do(func() error { return unix.PtraceDetach(s.pid) })
}

// Kill ends the process. Its image's memory is no longer readable.
func (s *Stopped) Kill() error {
	defer s.t.close()
	s.mem.Close()
	return s.t.do(func() error {
		// A killed tracee is let go by the kernel; detaching it after
		// finds no one (ESRCH), which is what was wanted.
		if err := unix.Kill(s.pid, syscall.SIGKILL); err != nil {
			return err
		}
		unix.PtraceDetach(s.pid)
		return nil
	})
}

// Dump stops process pid (the caller must be allowed to ptrace it) and
// reads it into an Image. The process stays stopped until the caller
// resumes or kills it through the returned Stopped; on error it has been
// let go.
func Dump(pid int) (*Image, *Stopped, error) {
	if n, err := threads(pid); err != nil {
		return nil, nil, fmt.Errorf("vmadump: process %d: %w", pid, err)
	} else if n != 1 {
		return nil, nil, fmt.Errorf("%w (%d threads)", ErrThreads, n)
	}
	t := newTracer()
	var img *Image
	err := t.do(func() error {
		if err := seize(pid); err != nil {
			return err
		}
		var err error
		if img, err = dumpStopped(pid); err != nil {
			unix.PtraceDetach(pid)
		}
		return err
	})
	if err != nil {
		t.close()
		return nil, nil, fmt.Errorf("vmadump: dump %d: %w", pid, err)
	}
	return img, &Stopped{t: t, pid: pid, mem: img.mem.(*os.File)}, nil
}

func dumpStopped(pid int) (_ *Image, err error) {
	img := &Image{}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return nil, fmt.Errorf("getregs: %w", err)
	}
	img.Regs = regsWords(&regs)
	if img.XState, err = getRegset(pid, ntX86XState, 1<<15); err != nil {
		img.XState = nil // no XSAVE: the FXSAVE area below does
	}
	if img.FPRegs, err = getRegset(pid, ntPRFPREG, 512); err != nil {
		return nil, fmt.Errorf("fpregs: %w", err)
	}

	in, maps, err := newInjector(pid)
	if err != nil {
		return nil, err
	}
	// Open while the process is held: its memory is read as the image
	// is encoded (Image.Encode), and Stopped closes it.
	defer func() {
		if err != nil {
			in.mem.Close()
		}
	}()
	img.mem = in.mem
	// What only the process can tell: its signal handlers and its brk.
	// The calls change nothing; the registers are put back after.
	brk, err := askProcess(in, img)
	if err != nil {
		unix.PtraceSetRegs(pid, &regs)
		return nil, err
	}
	if err := unix.PtraceSetRegs(pid, &regs); err != nil {
		return nil, fmt.Errorf("setregs: %w", err)
	}

	img.VDSOMaps = vdsoBlock(maps)
	if img.VDSOText, err = readVDSOText(in.mem, img.VDSOMaps); err != nil {
		return nil, err
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return nil, err
	}
	defer pm.Close()
	if err := movable(pid, maps); err != nil {
		return nil, err
	}
	for _, m := range maps {
		switch m.Path {
		case "[vsyscall]":
			continue
		case "[vvar]", "[vvar_vclock]", "[vdso]":
			// The kernel's, made again together by arch_prctl at the
			// start of the first of them.
			if img.VDSO == 0 || m.Start < img.VDSO {
				img.VDSO = m.Start
			}
			continue
		}
		if err := readMapping(in.mem, pm, &m); err != nil {
			return nil, err
		}
		img.Maps = append(img.Maps, m)
	}

	if img.Layout, err = readLayout(pid); err != nil {
		return nil, err
	}
	img.Layout.Brk = brk
	if img.Auxv, err = os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid)); err != nil {
		return nil, err
	}
	status, err := procfs.ReadStatus(pid)
	if err != nil {
		return nil, err
	}
	img.SigMask = status.SigBlk
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	img.Comm = strings.TrimSuffix(string(comm), "\n")
	img.Exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	img.Cwd, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return img, nil
}

// findSyscall finds a syscall instruction (0f 05) in the vDSO or, failing
// that, in any executable mapping.
func findSyscall(mem *os.File, maps []Mapping) (uint64, error) {
	try := func(m Mapping) (uint64, bool) {
		if m.Prot&unix.PROT_EXEC == 0 || m.End-m.Start > 64<<20 {
			return 0, false
		}
		buf := make([]byte, m.End-m.Start)
		n, _ := mem.ReadAt(buf, int64(m.Start))
		if i := bytes.Index(buf[:n], []byte{0x0f, 0x05}); i >= 0 {
			return m.Start + uint64(i), true
		}
		return 0, false
	}
	for _, m := range maps {
		if m.Path == "[vdso]" {
			if a, ok := try(m); ok {
				return a, nil
			}
		}
	}
	for _, m := range maps {
		if a, ok := try(m); ok {
			return a, nil
		}
	}
	return 0, errors.New("no syscall instruction in the process")
}

// askProcess reads the signal handlers, the interval timers and the brk by making the process
// ask the kernel, into a page mapped for the purpose and removed after.
func askProcess(in *injector, img *Image) (brk uint64, err error) {
	scratch, err := in.call(unix.SYS_MMAP, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	if err != nil {
		return 0, fmt.Errorf("scratch page: %w", err)
	}
	defer in.call(unix.SYS_MUNMAP, scratch, pageSize)
	// Only the signals the process catches or ignores have anything to
	// carry: one injected call each instead of 62.
	status, err := procfs.ReadStatus(in.pid)
	if err != nil {
		return 0, err
	}
	set := status.SigCgt | status.SigIgn
	for sig := 1; sig <= 64; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) || set&(1<<(sig-1)) == 0 {
			continue
		}
		if _, err := in.call(unix.SYS_RT_SIGACTION, uint64(sig), 0, scratch, 8); err != nil {
			return 0, fmt.Errorf("rt_sigaction %d: %w", sig, err)
		}
		b, err := in.read(scratch, 32)
		if err != nil {
			return 0, err
		}
		a := SigAction{Sig: sig,
			Handler: binary.LittleEndian.Uint64(b), Flags: binary.LittleEndian.Uint64(b[8:]),
			Restorer: binary.LittleEndian.Uint64(b[16:]), Mask: binary.LittleEndian.Uint64(b[24:])}
		if a.Handler != 0 || a.Flags != 0 || a.Mask != 0 {
			img.Actions = append(img.Actions, a)
		}
	}
	if img.Timers, err = getITimers(in, scratch); err != nil {
		return 0, err
	}
	if brk, err = in.call(unix.SYS_BRK, 0); err != nil {
		return 0, fmt.Errorf("brk: %w", err)
	}
	return brk, nil
}

// readMapping fills m.Chunks: the pages the new process needs from this
// one. For anonymous memory that is every page ever touched (present or
// swapped); for a private file mapping, the pages the process changed
// (anonymous copies, no longer file pages). A deleted file cannot be
// mapped again: its present pages are carried and it becomes anonymous.
func readMapping(mem, pm *os.File, m *Mapping) error {
	deleted := strings.HasSuffix(m.Path, " (deleted)")
	if deleted {
		m.Path = ""
	}
	if m.Shared && !deleted && !m.Anonymous() {
		return nil // the file's own pages: mapped again from it
	}
	entries, err := pagemap(pm, m.Start, m.End)
	if err != nil {
		return err
	}
	anon := m.Anonymous()
	want := func(e uint64) bool {
		switch {
		case deleted:
			return e&(pmPresent|pmSwapped) != 0
		case anon:
			return e&(pmPresent|pmSwapped) != 0
		default:
			return e&(pmPresent|pmSwapped) != 0 && e&pmFile == 0
		}
	}
	for i := 0; i < len(entries); {
		if !want(entries[i]) {
			i++
			continue
		}
		j := i
		for j < len(entries) && want(entries[j]) {
			j++
		}
		// Read when the image is encoded (Image.Encode), from the
		// process, which stays stopped until then.
		addr := m.Start + uint64(i)*pageSize
		m.Chunks = append(m.Chunks, Chunk{Addr: addr, Len: (j - i) * pageSize})
		i = j
	}
	return nil
}

// DumpWhenIn is Dump once process pid is blocked in system call nr (it
// asked to be moved a moment ago and may still be on its way to its
// wait): the registers read are those of that call, which is what the
// rebuilt copy returns from. hold, when set, runs each Dump (see
// spawn.Reaper.Hold: a process that reaps its children must not take the
// stops meanwhile).
func DumpWhenIn(pid int, nr uint64, timeout time.Duration, hold func(func() error) error) (*Image, *Stopped, error) {
	if hold == nil {
		hold = func(fn func() error) error { return fn() }
	}
	deadline := time.Now().Add(timeout)
	for {
		if inSyscall(pid) == int(nr) {
			var img *Image
			var stopped *Stopped
			err := hold(func() (err error) {
				img, stopped, err = Dump(pid)
				return err
			})
			if err != nil {
				return nil, nil, err
			}
			if img.Regs[15] == nr { // orig_rax
				return img, stopped, nil
			}
			stopped.Resume()
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("vmadump: process %d did not wait in system call %d", pid, nr)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// inSyscall is the system call pid is blocked in, from /proc/PID/syscall
// (-1: running, or gone).
func inSyscall(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/syscall")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return n
}
