package master

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// A namespace node learns that the master that started it is gone from
// its parent-death signal (wire.OrphanSignal), but a node a next master
// took back (nodes_local_keep.go) is not that master's child. So a master
// with namespace nodes holds a write lock on the state directory's
// wire.MasterLockFile while it runs, which the kernel drops when it dies
// and keeps while it is paused: the nodes test it (node/orphan.go).

// holdMasterLock takes the lock for as long as the master runs: the
// returned function drops it. A lock still held (a master before this
// one still ending) is waited for in the background.
func (m *Master) holdMasterLock() func() {
	path := filepath.Join(m.cfg.StateDir, wire.MasterLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		m.log.Warn("namespace nodes will not know this master from a killed one", "err", fmt.Errorf("open %s: %w", path, err))
		return func() {}
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	take := func() error { return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk) }
	done := make(chan struct{})
	if err := take(); err != nil {
		m.log.Warn("master lock held by another process; waiting for it", "file", path, "err", err)
		m.routines.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for take() != nil {
				select {
				case <-t.C:
				case <-done:
					return
				}
			}
		})
	}
	return func() {
		close(done)
		f.Close()
	}
}
