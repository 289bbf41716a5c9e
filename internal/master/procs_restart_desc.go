package master

import (
	"os"
	"strconv"
)

// A descendant's ghost that comes back to a restarted master (a resume
// hello, serveReturning) is a descendant again: the new master knows
// nothing of the fork that made it, but the kernel's tree of ghosts says
// it. A descendant's ghost is a child of its parent's ghost, forked by
// it from the same program (forkghost: the old master's stub memfd, which
// a re-exec keeps), while a job's ghost is a child of its client (bpsh),
// a ghost's sibling made with CLONE_PARENT is too, and an orphan's has
// been reparented. So its group changes are mirrored onto its ghost
// again, and it counts against its user's descendant ghost bound.
//
// Not told apart: a descendant whose parent's ghost had ended before the
// restart (an orphan, its ghost reparented to init or a subreaper) comes
// back as a job of its own, as before.

// returnedDescendant is the descendant record of the returning ghost pid
// of uid, nil when its parent is not a ghost. Its place among uid's
// descendant ghosts is taken even past the bound: its process runs, and
// the bound is for new forks.
func (m *Master) returnedDescendant(pid int, uid uint32) *descendant {
	pp := ghostParent(pid)
	if pp <= 1 || !sameProgram(pid, pp) {
		return nil
	}
	slot := m.conns.reserveReturned(uid)
	slot.arrived()
	return &descendant{slot: slot} // no fork waits for it (born)
}

// sameProgram: processes a and b run the same executable file.
func sameProgram(a, b int) bool {
	fa, err := os.Stat("/proc/" + strconv.Itoa(a) + "/exe")
	if err != nil {
		return false
	}
	fb, err := os.Stat("/proc/" + strconv.Itoa(b) + "/exe")
	return err == nil && os.SameFile(fa, fb)
}
