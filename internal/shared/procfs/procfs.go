// Package procfs reads the fields of /proc/PID/stat and /proc/PID/status
// that bproc uses, in one place: the node's process space reads them on
// every fork, the master of its ghosts, vmadump of the process it dumps.
//
// A read is a few system calls into a buffer on the caller's stack and a
// parse that allocates nothing, so that the fork's path pays no garbage
// for it; a file larger than that buffer is read whole.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// self stands for /proc/self: a process in a PID namespace of its own
// whose /proc is its parent namespace's is not /proc/PID there.
const self = -1

// Read reads /proc/PID/name into buf, up to its size, with bare system
// calls: the path is built on the stack and no os.File is made, so a look
// every few microseconds (a fork's, an exit's) allocates nothing.
func Read(pid int, name string, buf []byte) ([]byte, error) {
	if pid <= 0 {
		return nil, notPID(pid, name)
	}
	return read(pid, name, buf)
}

// notPID is the error of a pid that names no process (0 or below: -1
// would be /proc/self here).
func notPID(pid int, name string) error {
	return fmt.Errorf("/proc/%d/%s: not a PID", pid, name)
}

func read(pid int, name string, buf []byte) ([]byte, error) {
	var pb [64]byte
	path := append(pb[:0], "/proc/"...)
	if pid == self {
		path = append(path, "self"...)
	} else {
		path = strconv.AppendInt(path, int64(pid), 10)
	}
	path = append(path, '/')
	path = append(path, name...)
	path = append(path, 0)
	fd, err := openPath(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: string(path[:len(path)-1]), Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		k, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: string(path[:len(path)-1]), Err: err}
		}
		if k == 0 {
			break
		}
		n += k
	}
	return buf[:n], nil
}

// openPath opens path, which ends in a NUL byte, read-only: unix.Open
// would copy it to the heap to add the NUL.
func openPath(path []byte) (int, error) {
	dirfd := unix.AT_FDCWD
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
			unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

// readWhole is Read with the rest of the file read too where buf was
// filled: a rare process whose file is larger than the caller's buffer
// costs an allocation, never a field cut short.
func readWhole(pid int, name string, buf []byte) ([]byte, error) {
	b, err := read(pid, name, buf)
	if err != nil || len(b) < len(buf) {
		return b, err
	}
	return readAll(pid, name)
}

// readAll reads all of /proc/PID/name, on the heap.
func readAll(pid int, name string) ([]byte, error) {
	if pid == self {
		return os.ReadFile("/proc/self/" + name)
	}
	return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
}
