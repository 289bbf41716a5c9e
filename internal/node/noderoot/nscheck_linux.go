package noderoot

import (
	"fmt"
	"os"
	"syscall"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// checkNamespaces refuses to run anywhere but PID 1 of a new PID namespace
// whose mount namespace is not its parent's. Setup rebuilds / and pivots:
// done in the master's mount namespace it would take the master's files
// away, so this is checked before anything changes.
func checkNamespaces() error {
	if pid := os.Getpid(); pid != 1 {
		return fmt.Errorf("%w: pid is %d", ErrNotPID1, pid)
	}
	// getppid() is 0 for PID 1 of a new PID namespace; /proc is still the
	// master's here, and in it the parent has its real PID.
	ppid, err := parentInProc()
	if err != nil {
		return fmt.Errorf("noderoot: find the parent process: %w", err)
	}
	if ppid == 0 {
		// /proc belongs to our own PID namespace: whoever mounted it may
		// or may not have given us a mount namespace; we cannot tell.
		return fmt.Errorf("%w: /proc shows no parent to compare with", ErrSharedMountNS)
	}
	self, err := nsID("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("noderoot: %w", err)
	}
	parent, err := nsID(fmt.Sprintf("/proc/%d/ns/mnt", ppid))
	if err != nil {
		return fmt.Errorf("noderoot: %w", err)
	}
	if self == parent {
		return fmt.Errorf("%w: same as parent pid %d", ErrSharedMountNS, ppid)
	}
	return nil
}

// parentInProc reads the parent's PID as the procfs mounted at /proc numbers
// it (field 4 of /proc/self/stat, after the command name in parentheses,
// which may itself hold spaces and parentheses).
func parentInProc() (int, error) {
	st, err := procfs.ReadSelfStat()
	return st.PPid, err
}

type nsKey struct{ dev, ino uint64 }

func nsID(path string) (nsKey, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsKey{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return nsKey{uint64(st.Dev), st.Ino}, nil
}
