package master

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stream turns a descriptor a ghost handed over into a file the master can
// read or write without parking an OS thread on it, and whose reads can be
// cancelled when the remote process ends (a blocked read on the user's
// terminal would otherwise steal the next line typed to the shell).
//
// A descriptor shares its file description, and so its O_NONBLOCK flag,
// with the user's shell: setting the flag on it would break the shell. Pipes
// and terminals can be opened again through /proc/self/fd, which gives a
// description of our own to make non-blocking. Regular files never block,
// and are kept as they are so that their offset stays shared (a shell loop
// reading a file line by line relies on that).
func stream(fd int, write bool) (*os.File, error) {
	name := fmt.Sprintf("/proc/self/fd/%d", fd)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fcntl fd %d: %w", fd, err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		return os.NewFile(uintptr(fd), name), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fstat fd %d: %w", fd, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFCHR:
		mode := unix.O_RDONLY
		if write {
			mode = unix.O_WRONLY
		}
		nfd, err := unix.Open(name, mode|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			return os.NewFile(uintptr(nfd), name), nil
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// isDevNull says whether fd is /dev/null (character device 1:3).
func isDevNull(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}

// outputs are the master's copies of the stdout and stderr a job's ghosts
// handed over, shared: all the ghosts of one bpsh write to the same
// terminal or pipe, and 15,000 of them would otherwise hold 30,000
// descriptors of it in the master (a hard RLIMIT_NOFILE of 20,000 here).
//
// A pipe or terminal is one output whatever description reached us, as
// stream opens one of its own anyway. A regular file or socket is shared
// only with the same open file description (kcmp), because that is what
// its ghosts share: one offset, the same O_APPEND.
type outputs struct {
	mu    sync.Mutex
	files map[outputKey][]*output
}

type outputKey struct{ dev, ino, rdev uint64 }

type output struct {
	f    *os.File
	fd   int // f's, for kcmp (see rawFD)
	refs int
	byFD bool // shared only with the same description (kcmp)
}

// open is stream(fd, true), or the output already open for what fd is;
// either way the caller owns fd no longer, and releases the file.
func (o *outputs) open(fd int) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fstat fd %d: %w", fd, err)
	}
	key := outputKey{st.Dev, st.Ino, st.Rdev}
	kind := st.Mode & unix.S_IFMT
	byFD := kind != unix.S_IFIFO && kind != unix.S_IFCHR
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, out := range o.files[key] {
		if !out.byFD || sameDescription(fd, out.fd) {
			unix.Close(fd)
			out.refs++
			return out.f, nil
		}
	}
	f, err := stream(fd, true)
	if err != nil {
		return nil, err
	}
	if o.files == nil {
		o.files = make(map[outputKey][]*output)
	}
	o.files[key] = append(o.files[key], &output{f: f, fd: rawFD(f), refs: 1, byFD: byFD})
	return f, nil
}

// release gives f back; the last user closes it.
func (o *outputs) release(f *os.File) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for key, list := range o.files {
		for i, out := range list {
			if out.f != f {
				continue
			}
			if out.refs--; out.refs > 0 {
				return
			}
			f.Close()
			if list = append(list[:i], list[i+1:]...); len(list) == 0 {
				delete(o.files, key)
			} else {
				o.files[key] = list
			}
			return
		}
	}
	f.Close() // not shared (cannot happen: every output comes from open)
}

// rawFD is f's descriptor (-1 once closed), got without f.Fd(), which
// makes blocking a file that os put in non-blocking mode itself. None of
// the master's is such a file today (stream hands os descriptors that are
// non-blocking already, which Fd leaves alone), but one that was would
// stop being cancellable, and could be a description the user shares.
func rawFD(f *os.File) int {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(d uintptr) { fd = int(d) })
	}
	return fd
}

// sameDescription says whether two descriptors of this process are the
// same open file description.
func sameDescription(a, b int) bool {
	const kcmpFile = 0 // KCMP_FILE
	pid := uintptr(os.Getpid())
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpFile, uintptr(a), uintptr(b), 0)
	return errno == 0 && r == 0
}
