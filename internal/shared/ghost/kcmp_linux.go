package ghost

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CompareMemory orders processes a and b by their address space with
// kcmp(KCMP_VM): 0 when they share one, as the ghosts of a Group do, and
// -1 or 1 otherwise, a total order, so that ghosts sorted by it fall in
// runs by address space. It is for tests and benchmarks that weigh
// ghosts: the PSS and page tables /proc shows for a ghost are its whole
// address space's, to be counted once per run. It needs the right to
// ptrace both (PTRACE_MODE_READ).
func CompareMemory(a, b int) (int, error) {
	const kcmpVM = 1 // KCMP_VM
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpVM, 0, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("kcmp %d %d: %w", a, b, errno)
	}
	switch r {
	case 0:
		return 0, nil
	case 1:
		return -1, nil
	case 2:
		return 1, nil
	}
	return 0, fmt.Errorf("kcmp %d %d: unordered (%d)", a, b, r)
}
