package master

import "golang.org/x/sys/unix"

// nodeTmpfs is how many tmpfs a local node has that its processes write
// to: /tmp, /var/tmp, /dev/shm, the view's /run, and the node's own /run,
// which holds the view's upper layer (what processes write over the
// master's files) and its copies of the master's files.
const nodeTmpfs = 5

// minTmpSize keeps a local node's tmpfs big enough for the copies of a
// few programs, however many nodes share the machine.
const minTmpSize = 16 << 20

// localTmpSize is the size of each tmpfs of a local node: the config's
// tmpsize, or else a share of this machine's memory such that all the
// local nodes' tmpfs together promise at most half of it (a tmpfs of half
// the machine each promised three nodes 72 GB of a 24 GB machine, and a
// user filling one met the OOM killer before ENOSPC).
func (m *Master) localTmpSize() int64 {
	m.mu.Lock()
	size := m.cfg.File.TmpSize
	m.mu.Unlock()
	if size > 0 {
		return size
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return minTmpSize
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	return max(int64(total)/2/int64(max(m.cfg.LocalNodes, 1))/nodeTmpfs, minTmpSize)
}
