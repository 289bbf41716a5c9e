package vmadump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// Attr says how to start the rebuilt process.
type Attr struct {
	// Stub is a small static program (the ghost stub) the process is
	// rebuilt in: started stopped, emptied, refilled. A path the new
	// process can execute, inside Root.
	Stub string
	// PID is the PID wanted (spawn.Attr.PID); 0: any.
	PID int
	// The process runs with these credentials; it is rebuilt as root.
	Uid, Gid uint32
	Groups   []uint32
	// Files become its fds 0, 1, 2, ... (spawn.Attr.Files).
	Files  []int
	Setsid bool
	// Root is where it is chrooted (a diskless node's view); its file
	// mappings are opened there.
	Root string
	// Dir is its working directory; "" is the image's, or / when that is
	// missing.
	Dir string
	// Return, when set, is what the system call the process was stopped
	// in returns to it (rax): how a moved process tells it was moved.
	Return *uint64
	// BeforeRun, when set, runs once the process is rebuilt, before it
	// runs (RestoreInto: the master lets the old copy's output arrive
	// first); an error fails the restore.
	BeforeRun func() error
	// Start starts the stub (spawn.Attr with Traced set) and runs rebuild
	// on it, on the calling thread; spawn.Reaper.StartTraced is one. Nil:
	// spawn.Start, and the caller reaps the PID Restore returns.
	Start func(a spawn.Attr, rebuild func(pid int) error) (pid int, err error)
	// CopyVDSO gives the process the image's own vDSO, made system
	// calls, even where the node's kernel has the same one (tests of
	// the copy; vdso.go).
	CopyVDSO bool
}

// ARCH_MAP_VDSO_64 of arch_prctl: map the vDSO at an address.
const archMapVDSO64 = 0x2003

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uint64(99)

// Restore rebuilds img as a new process and lets it run, and returns its
// PID. With Attr.Start nil the caller reaps it, also when Restore fails
// after starting it (the PID comes with the error; the process has been
// killed).
func Restore(img *Image, a Attr) (pid int, err error) {
	if err := img.validate(); err != nil {
		return 0, err
	}
	sa := spawn.Attr{
		Path: a.Stub, Argv: []string{img.Comm}, PID: a.PID, Files: a.Files,
		Setsid: a.Setsid, Root: a.Root, Traced: true,
	}
	rb := func(pid int) error { return rebuild(pid, img, a) }
	start := a.Start
	if start == nil {
		start = func(sa spawn.Attr, rb func(int) error) (int, error) {
			pid, pidfd, err := spawn.Start(sa)
			if err != nil {
				return 0, err
			}
			unix.Close(pidfd)
			if err := rb(pid); err != nil {
				unix.Kill(pid, syscall.SIGKILL)
				unix.PtraceDetach(pid)
				return pid, err
			}
			return pid, nil
		}
	}
	t := newTracer()
	defer t.close()
	err = t.do(func() (err error) {
		pid, err = start(sa, rb)
		return err
	})
	if err != nil {
		return pid, fmt.Errorf("vmadump: restore %s: %w", img.Comm, err)
	}
	return pid, nil
}

func rebuild(pid int, img *Image, a Attr) error {
	if sig, err := waitStop(pid); err != nil {
		return err
	} else if sig != syscall.SIGTRAP {
		return fmt.Errorf("stub stopped by %v, not at its exec", sig)
	}
	return rebuildStopped(pid, img, a, nil)
}

// rebuildStopped rebuilds img in pid, a traced process stopped at its
// exec. in place (RestoreInto), its credentials are left as they are
// and what its exec kept (descriptors above 2, ignored signals, a
// scratch page's worth of nothing) is undone.
func rebuildStopped(pid int, img *Image, a Attr, inPlace *placeAttr) error {
	in, own, err := newInjector(pid)
	if err != nil {
		return err
	}
	defer in.mem.Close()

	// A page of our own where neither the stub nor the image has
	// anything: the syscall instruction from now on, and room for the
	// arguments that are pointers.
	scratch := freePage(img, own)
	if scratch == 0 {
		return errors.New("no free page for the rebuilding")
	}
	if _, err := in.call(unix.SYS_MMAP, scratch, pageSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0); err != nil {
		return fmt.Errorf("scratch page: %w", err)
	}
	if err := in.write(scratch, []byte{0x0f, 0x05, 0xcc}); err != nil {
		return err
	}
	in.syscall = scratch
	arg := scratch + 64 // room for one argument at a time

	// Groups and gid now, and the user as the file system identity, so
	// that every file the rebuilding opens is opened as the user would
	// (on a diskless node the view asks the master as the user); euid
	// stays 0 until the end: the layout needs CAP_SYS_RESOURCE.
	if inPlace != nil {
		if err := inPlace.undoExec(in, arg); err != nil {
			return err
		}
	} else if err := setIdentity(in, arg, a); err != nil {
		return err
	}
	return rebuildRest(pid, in, in.mem, own, scratch, arg, img, a, inPlace)
}

// setIdentity gives the stub, a root process, the user's groups and gid
// and, as its file system identity, the user.
func setIdentity(in *injector, arg uint64, a Attr) error {
	var gb []byte
	for _, g := range a.Groups {
		gb = binary.LittleEndian.AppendUint32(gb, g)
	}
	if len(gb) > pageSize-128 {
		return errors.New("too many groups")
	}
	if len(gb) > 0 {
		if err := in.write(arg, gb); err != nil {
			return err
		}
	}
	if _, err := in.call(unix.SYS_SETGROUPS, uint64(len(a.Groups)), arg); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if _, err := in.call(unix.SYS_SETRESGID, uint64(a.Gid), uint64(a.Gid), uint64(a.Gid)); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	// setfsuid answers with the previous value, never an error.
	in.call(unix.SYS_SETFSUID, uint64(a.Uid))
	return nil
}

// rebuildRest empties the stub and fills it with img.
func rebuildRest(pid int, in *injector, mem *os.File, own []Mapping, scratch, arg uint64, img *Image, a Attr, inPlace *placeAttr) error {

	// The node's vDSO, to tell whether it is the one the process knows.
	ownBlock := vdsoBlock(own)
	ownText, err := readVDSOText(mem, ownBlock)
	if err != nil {
		return err
	}
	// The stub goes, all of it.
	for _, m := range own {
		if m.Path == "[vsyscall]" {
			continue
		}
		if _, err := in.call(unix.SYS_MUNMAP, m.Start, m.End-m.Start); err != nil {
			return fmt.Errorf("unmap the stub's %#x-%#x %s: %w", m.Start, m.End, m.Path, err)
		}
	}
	switch {
	case len(img.VDSOText) > 0 && (a.CopyVDSO || !sameVDSO(img, ownBlock, ownText)):
		if err := mapVDSOCopy(in, img); err != nil {
			return err
		}
	case img.VDSO != 0:
		if _, err := in.call(unix.SYS_ARCH_PRCTL, archMapVDSO64, img.VDSO); err != nil {
			return fmt.Errorf("vDSO at %#x: %w", img.VDSO, err)
		}
	}
	// Each file is opened once for all its mappings (a library has four
	// or five): every call made here is a round trip through ptrace.
	files := map[string]uint64{}
	for i := range img.Maps {
		if err := mapOne(in, arg, img, &img.Maps[i], files); err != nil {
			closeAll(in, files)
			return err
		}
	}
	closeAll(in, files)

	if err := setLayout(in, arg, img, inPlace != nil); err != nil {
		return err
	}
	if err := in.writeString(arg, img.Comm); err != nil {
		return err
	}
	if _, err := in.call(unix.SYS_PRCTL, unix.PR_SET_NAME, arg); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	for _, act := range img.Actions {
		b := make([]byte, 32)
		binary.LittleEndian.PutUint64(b, act.Handler)
		binary.LittleEndian.PutUint64(b[8:], act.Flags)
		binary.LittleEndian.PutUint64(b[16:], act.Restorer)
		binary.LittleEndian.PutUint64(b[24:], act.Mask)
		if err := in.write(arg, b); err != nil {
			return err
		}
		if _, err := in.call(unix.SYS_RT_SIGACTION, uint64(act.Sig), arg, 0, 8); err != nil {
			return fmt.Errorf("rt_sigaction %d: %w", act.Sig, err)
		}
	}
	b := binary.LittleEndian.AppendUint64(nil, img.SigMask)
	if err := in.write(arg, b); err != nil {
		return err
	}
	if _, err := in.call(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, arg, 0, 8); err != nil {
		return fmt.Errorf("signal mask: %w", err)
	}
	if err := setITimers(in, arg, img.Timers); err != nil {
		return err
	}
	dir := a.Dir
	if dir == "" {
		dir = img.Cwd
	}
	if dir != "" {
		if err := in.writeString(arg, dir); err != nil {
			return err
		}
		if _, err := in.call(unix.SYS_CHDIR, arg); err != nil {
			in.writeString(arg, "/")
			in.call(unix.SYS_CHDIR, arg)
		}
	}

	// The uid last: setting the layout needed CAP_SYS_RESOURCE.
	if inPlace == nil {
		if _, err := in.call(unix.SYS_SETRESUID, uint64(a.Uid), uint64(a.Uid), uint64(a.Uid)); err != nil {
			return fmt.Errorf("setresuid: %w", err)
		}
	}
	if _, err := in.call(unix.SYS_MUNMAP, scratch, pageSize); err != nil {
		return fmt.Errorf("unmap the scratch page: %w", err)
	}

	if len(img.XState) == 0 || setRegset(pid, ntX86XState, img.XState) != nil {
		if err := setRegset(pid, ntPRFPREG, img.FPRegs); err != nil {
			return fmt.Errorf("FPU state: %w", err)
		}
	}
	regs := wordsRegs(img.Regs)
	regs.Orig_rax = ^uint64(0) // go on after the call, do not restart it
	if a.Return != nil {
		regs.Rax = *a.Return
	}
	if err := unix.PtraceSetRegs(pid, &regs); err != nil {
		return fmt.Errorf("setregs: %w", err)
	}
	if a.BeforeRun != nil {
		if err := a.BeforeRun(); err != nil {
			return err
		}
	}
	return unix.PtraceDetach(pid)
}

// mapOne maps m at its place with its protection, from its file or
// anonymous, and writes the pages the image carries for it.
func mapOne(in *injector, arg uint64, img *Image, m *Mapping, files map[string]uint64) error {
	length := m.End - m.Start
	if m.Anonymous() {
		flags := uint64(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED)
		if m.Shared {
			flags = unix.MAP_SHARED | unix.MAP_ANONYMOUS | unix.MAP_FIXED
		}
		if m.Path == "[stack]" {
			flags |= unix.MAP_GROWSDOWN
		}
		if _, err := in.call(unix.SYS_MMAP, m.Start, length, uint64(m.Prot), flags, ^uint64(0), 0); err != nil {
			return fmt.Errorf("map %#x-%#x %s: %w", m.Start, m.End, m.Path, err)
		}
	} else {
		fd, ok := files[m.Path]
		if !ok {
			if err := in.writeString(arg, m.Path); err != nil {
				return err
			}
			var err error
			if fd, err = in.call(unix.SYS_OPENAT, atFDCWD, arg, unix.O_RDONLY|unix.O_CLOEXEC); err != nil {
				return fmt.Errorf("open %s: %w", m.Path, err)
			}
			files[m.Path] = fd
		}
		// Private even where the process shared it: a node's copy of a
		// master file has no one to share changes with.
		if _, err := in.call(unix.SYS_MMAP, m.Start, length, uint64(m.Prot), unix.MAP_PRIVATE|unix.MAP_FIXED, fd, m.Offset); err != nil {
			return fmt.Errorf("map %s at %#x-%#x: %w", m.Path, m.Start, m.End, err)
		}
	}
	for _, c := range m.Chunks {
		if err := img.eachPiece(&c, func(addr uint64, b []byte) error {
			if err := in.write(addr, b); err != nil {
				return fmt.Errorf("%s: %w", m.Path, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// setLayout tells the kernel where the process's brk, argv and
// environment are (prctl PR_SET_MM_MAP), and which file is its
// executable.
func setLayout(in *injector, arg uint64, img *Image, inPlace bool) error {
	err := setLayoutExe(in, arg, img, true)
	if err != nil && inPlace && errors.Is(err, unix.EPERM) {
		// A user's own process may set its layout, but not its
		// executable (CAP_CHECKPOINT_RESTORE): /proc/PID/exe then
		// names the ghost stub.
		err = setLayoutExe(in, arg, img, false)
	}
	return err
}

func setLayoutExe(in *injector, arg uint64, img *Image, withExe bool) error {
	exe := uint64(^uint32(0))
	if img.Exe != "" && withExe {
		if err := in.writeString(arg, img.Exe); err == nil {
			if fd, err := in.call(unix.SYS_OPENAT, atFDCWD, arg, unix.O_RDONLY|unix.O_CLOEXEC); err == nil {
				exe = fd
				defer in.call(unix.SYS_CLOSE, fd)
			}
		}
	}
	l := img.Layout
	auxv := arg + 1024
	if len(img.Auxv) > pageSize-1024-64 {
		return errors.New("auxv too large")
	}
	if err := in.write(auxv, img.Auxv); err != nil {
		return err
	}
	var b []byte
	for _, v := range []uint64{l.StartCode, l.EndCode, l.StartData, l.EndData, l.StartBrk, l.Brk,
		l.StartStack, l.ArgStart, l.ArgEnd, l.EnvStart, l.EnvEnd, auxv} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(img.Auxv)))
	b = binary.LittleEndian.AppendUint32(b, uint32(exe))
	if err := in.write(arg, b); err != nil {
		return err
	}
	if _, err := in.call(unix.SYS_PRCTL, unix.PR_SET_MM, unix.PR_SET_MM_MAP, arg, uint64(len(b))); err != nil {
		return fmt.Errorf("memory layout (PR_SET_MM_MAP): %w", err)
	}
	return nil
}

// freePage finds a page-aligned address that neither the image nor the
// stub uses, nor the vDSO's neighbourhood.
func freePage(img *Image, own []Mapping) uint64 {
	busy := func(a uint64) bool {
		for _, m := range img.Maps {
			if a+pageSize > m.Start && a < m.End {
				return true
			}
		}
		for _, m := range own {
			if a+pageSize > m.Start && a < m.End {
				return true
			}
		}
		return img.VDSO != 0 && a+pageSize > img.VDSO-(1<<20) && a < img.VDSO+(1<<20)
	}
	for a := uint64(0x10000000); a < 1<<46; a += 1 << 24 {
		if !busy(a) {
			return a
		}
	}
	return 0
}

func (in *injector) writeString(addr uint64, s string) error {
	if len(s) >= 1024-64 {
		return fmt.Errorf("path too long: %q", s)
	}
	return in.write(addr, append([]byte(s), 0))
}

// closeAll closes the tracee's descriptors of files.
func closeAll(in *injector, files map[string]uint64) {
	for p, fd := range files {
		in.call(unix.SYS_CLOSE, fd)
		delete(files, p)
	}
}
