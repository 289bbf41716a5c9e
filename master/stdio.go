package master

import (
	"fmt"
	"os"

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
