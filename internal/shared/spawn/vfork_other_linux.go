//go:build !amd64 && !arm64

package spawn

import "syscall"

// vforkFlags are none where rawVforkSyscall has no assembly: the child
// gets a copy of the caller's memory, and clone3 returns at once.
const vforkFlags = 0

// rawVforkSyscall is a plain raw system call: without CLONE_VM the child
// runs on a copy of the stack.
//
//go:nosplit
//go:norace
func rawVforkSyscall(trap, a1, a2 uintptr) (r1 uintptr, err syscall.Errno) {
	r1, _, err = syscall.RawSyscall(trap, a1, a2, 0)
	return r1, err
}
