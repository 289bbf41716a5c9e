package node

import (
	"fmt"

	"github.com/bproc/bproc/internal/shared/wire"
)

// The config's maxprocs is enforced here, on the node, by counting the
// processes of the space each user has on this node: those bproc started
// or moved here, which have ghosts. RLIMIT_NPROC would not do: the
// kernel counts it per real uid in the whole user namespace, which a
// namespace node shares with the machine, so a user's processes on the
// master and on every other local node would count against each node's
// limit, and root (CAP_SYS_RESOURCE) would not be limited at all. What a
// process forks on the node is its own affair, under the machine's
// limits, as on any machine.

// admit reserves a place for one more process of uid, or says why there
// is none; release gives it back when that process has ended (or did not
// start).
func (s *Slave) admit(uid uint32, max int) error {
	if max <= 0 {
		max = wire.DefaultMaxProcs
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser == nil {
		s.perUser = map[uint32]int{}
	}
	if n := s.perUser[uid]; n >= max {
		return fmt.Errorf("node %d: user %d already has %d processes here (maxprocs %d)", s.cfg.Node, uid, n, max)
	}
	s.perUser[uid]++
	return nil
}

func (s *Slave) release(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[uid]--; s.perUser[uid] <= 0 {
		delete(s.perUser, uid)
	}
}
