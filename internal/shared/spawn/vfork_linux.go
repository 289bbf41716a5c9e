//go:build amd64 || arm64

package spawn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// vforkFlags share the caller's memory with the child and suspend the
// calling thread until the child has called execve or exited: no page
// tables are copied, which is what a fork of a large Go process costs.
const vforkFlags = unix.CLONE_VM | unix.CLONE_VFORK

// rawVforkSyscall makes a system call that returns twice on one stack,
// in assembly (see vfork_linux_$GOARCH.s).
func rawVforkSyscall(trap, a1, a2 uintptr) (r1 uintptr, err syscall.Errno)
