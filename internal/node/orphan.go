package node

import (
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// A namespace node of bpmaster --local-nodes outlives a master killed
// (SIGKILL, a crash), so that the next master started on the same state
// directory takes it and its processes back (the master's
// nodes_local_keep.go). Its master starts it with SIGUSR2 as the
// parent-death signal: that is how the node learns that the process that
// started it is gone, as opposed to a master that is only silent (paused,
// busy). Such an orphan without a master for the grace time ends, as it
// would end its processes then, so that a master never started again
// leaves nothing running.

// watchOrphan notes, for a namespace node, when its master's process is
// gone (wire.OrphanSignal). Caught from here on; the master sends it only when
// it dies.
func (s *Slave) watchOrphan() {
	if !s.cfg.Local {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, wire.OrphanSignal)
	go func() {
		<-c
		s.log.Warn("the master that started this node is gone; waiting for a next one for the grace time", "grace", s.keeper.graceNow())
		s.orphaned.Store(true)
	}()
}

// orphanOver says whether a namespace node whose master process is gone
// has been without a master (since away) for the grace time: it ends then.
// Gone is what the master lock says, when the node has it: a node a next
// master took back had its signal from the master before, and must wait
// for this one while it is paused as a node it started would.
func (s *Slave) orphanOver(away time.Time) bool {
	if !s.cfg.Local || away.IsZero() || time.Since(away) < s.keeper.graceNow() {
		return false
	}
	if s.cfg.MasterLock != nil {
		return !masterLocked(s.cfg.MasterLock)
	}
	return s.orphaned.Load()
}

// masterLocked says whether a process holds a write lock on f (a running
// master: wire.MasterLockFile). Tested, not taken: a master starting
// meanwhile gets it. An error counts as held: the node waits, as it
// would for a paused master.
func masterLocked(f *os.File) bool {
	lk := unix.Flock_t{Type: unix.F_RDLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return true
	}
	return lk.Type != unix.F_UNLCK
}

// graceNow is the grace time the master last said.
func (k *keeper) graceNow() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.grace
}
