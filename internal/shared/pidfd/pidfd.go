// Package pidfd asks the kernel about a process by its pidfd
// (PIDFD_GET_INFO, Linux 6.13), with /proc as the fallback where the
// ioctl is unknown. A pidfd names one process for its life, so what it
// says cannot be another's that took the PID since; what /proc says is
// checked against the pidfd afterwards where that matters.
package pidfd

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// Info asks the kernel for what mask names of fd's process; the answer's
// Mask says what it had.
func Info(fd int, mask uint64) (unix.PidfdInfo, error) {
	info := unix.PidfdInfo{Mask: mask}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PIDFD_GET_INFO, uintptr(unsafe.Pointer(&info)))
	if e != 0 {
		return info, fmt.Errorf("PIDFD_GET_INFO: %w", e)
	}
	return info, nil
}

// NoInfo: err, from Info, says the kernel has no PIDFD_GET_INFO (before
// Linux 6.13: an unknown ioctl).
func NoInfo(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL)
}

// Parent is the parent of fd's process, whose PID here is pid: one ioctl
// where /proc/PID/stat is an open, a read the kernel formats some fifty
// fields for, and a close; from /proc on an older kernel. An error once
// the process is reaped (ESRCH).
func Parent(fd, pid int) (int, error) {
	info, err := Info(fd, unix.PIDFD_INFO_PID)
	if NoInfo(err) {
		st, err := procfs.ReadStat(pid)
		return st.PPid, err
	}
	if err != nil {
		return 0, err
	}
	return int(info.Ppid), nil
}

// Reaped: fd's process is gone, not even a zombie; the kernel no longer
// finds it, so a signal 0 fails with ESRCH.
func Reaped(fd int) bool {
	return errors.Is(unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH)
}
