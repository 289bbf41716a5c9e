package ghost

//go:generate sh -c "gcc -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-pie -no-pie -fno-ident -ffunction-sections -fdata-sections -Wall -Wextra -Wl,--gc-sections -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,noseparate-code -Wl,-z,norelro -s -o stub_amd64.bin stub.c && sha256sum stub.c > stub_amd64.bin.sha256"

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// stub is the ghost program, built from stub.c by go generate.
// stub_amd64.bin.sha256 records the stub.c it was built from.
//
//go:embed stub_amd64.bin
var stub []byte

// stubFD is the child's fd number for the stub's memfd: Start passes the
// memfd as the child's fd 3 and execs /proc/self/fd/3. Passing it, rather
// than exec'ing the parent's (close-on-exec) fd number, matters because
// the fork code (spawn's, as Go's) moves its status pipe onto the first fd
// number above those it passes, which could be the memfd's own number in
// the parent. The
// stub closes fd 3 (and anything above) first thing.
const stubFD = 3

// sunPathMax is the room in sockaddr_un.sun_path, less the final NUL.
const sunPathMax = 107

// memfd holds the sealed memfd the stub is exec'd from: one per process,
// shared by every ghost it starts, so they share the stub's code pages.
var memfd struct {
	once sync.Once
	fd   int
	err  error
}

// groupFD is a template's fd number for its control socket (stub.c's
// GROUP_FD): the fd after the memfd.
const groupFD = 4

// execGhost forks and execs a ghost for g's argv with token (a Token's
// String, or "-" for a template that waits for it on ctl: Prestart) and
// files as its fds 0-2 (nil: closed), and returns its PID. With ctl >= 0 the ghost
// is a template that serves requests for siblings on ctl (passed as its
// fd 4). The ghost's only other fds are the stub's memfd (fd 3, which it
// closes first thing); its environment holds only the socket path, the
// token, BPROC_GHOST_FORWARDED for a Forwarded group and, for a
// template, BPROC_GHOST_GROUP; its working directory,
// rlimits and credentials are the caller's.
func execGhost(g *Group, token string, files [3]*os.File, ctl int) (int, error) {
	memfd.once.Do(func() { memfd.fd, memfd.err = loadStub() })
	if memfd.err != nil {
		return 0, memfd.err
	}

	dups, err := dupFiles(files)
	if err != nil {
		return 0, err
	}
	defer closeFDs(dups[:])
	fds := []int{dups[0], dups[1], dups[2], memfd.fd}

	env := []string{
		"BPROC_GHOST_SOCK=" + g.Socket,
		"BPROC_GHOST_TOKEN=" + token,
	}
	if g.Forwarded {
		env = append(env, "BPROC_GHOST_FORWARDED=1")
	}
	if ctl >= 0 {
		fds = append(fds, ctl)
		env = append(env, "BPROC_GHOST_GROUP=1")
	}
	// spawn rather than syscall.ForkExec: its clone3 resets Go's signal
	// handlers in the child (CLONE_CLEAR_SIGHAND) instead of the child
	// resetting each of them with rt_sigaction while this thread waits
	// for its execve: a start took 0.1 ms less (median of 300 each,
	// interleaved), the child 0.08 ms less CPU.
	a := spawn.Attr{
		Path: fmt.Sprintf("/proc/self/fd/%d", stubFD), Argv: g.Argv, Env: env,
		Files: fds, Setpgid: g.Setpgid, KeepCreds: g.Cred == nil,
	}
	if c := g.Cred; c != nil {
		a.Uid, a.Gid, a.Groups = c.Uid, c.Gid, c.Groups
	}
	pid, pidfd, err := spawnStart(a)
	if noClone3(err) {
		return forkExecGhost(a, g.Cred)
	}
	if err != nil {
		return 0, err
	}
	unix.Close(pidfd)
	return pid, nil
}

// dupFiles returns close-on-exec duplicates of the fds of files, -1 for a
// nil one, for a ghost to get: dups, not the files' fds, because File.Fd
// would make them blocking, and a dup stays valid through the fork (or
// the request) even if a File is closed concurrently. A dup shares the
// open file description, so the ghost (and the master it hands them to)
// gets the very same files. On error none is left open.
func dupFiles(files [3]*os.File) ([3]int, error) {
	dups := [3]int{-1, -1, -1}
	for i, f := range files {
		if f == nil {
			continue
		}
		fd, err := dupFile(f)
		if err != nil {
			closeFDs(dups[:])
			return dups, fmt.Errorf("fd %d: %w", i, err)
		}
		dups[i] = fd
	}
	return dups, nil
}

// closeFDs closes the fds that are not -1.
func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// dupFile returns a close-on-exec duplicate of f's fd.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	runtime.KeepAlive(f)
	return nfd, derr
}

// loadStub writes the stub into a sealed memfd and returns a read-only,
// close-on-exec fd for it. Read-only matters: exec refuses a file that
// someone holds open for writing (ETXTBSY), and the seals make sure no
// one can change the code every ghost runs.
func loadStub() (int, error) {
	const name = "bproc-ghost"
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 know no MFD_EXEC; memfds are executable there.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(fd)
	for b := stub; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return -1, fmt.Errorf("write stub: %w", err)
		}
		b = b[n:]
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return -1, fmt.Errorf("seal stub: %w", err)
	}
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("reopen stub: %w", err)
	}
	return ro, nil
}

// StubPath is a path that this process and the children it forks (their
// fd tables are copies of its own) can execute the ghost stub from. Besides
// ghosts, the stub is the small static program package vmadump rebuilds a
// moved process in.
func StubPath() (string, error) {
	memfd.once.Do(func() { memfd.fd, memfd.err = loadStub() })
	if memfd.err != nil {
		return "", memfd.err
	}
	return fmt.Sprintf("/proc/self/fd/%d", memfd.fd), nil
}

// StubFD is this process's descriptor of the ghost stub (read-only, shared
// by every ghost), for a process that is to become a ghost itself and
// receives it with SCM_RIGHTS (a moved process's original).
func StubFD() (int, error) {
	memfd.once.Do(func() { memfd.fd, memfd.err = loadStub() })
	return memfd.fd, memfd.err
}
