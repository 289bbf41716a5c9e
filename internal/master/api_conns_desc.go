package master

import "sync"

// Descendant ghosts (what remote processes fork) are counted apart from
// maxconns: a job that forks more processes than its user may hold
// connections to the master must not lose their ghosts for it, nor wait
// forkWait for each refused one. Their own bound per user is descFactor
// times maxconns (a quarter of the master's descriptors by default), so
// that one user's runaway fork loop cannot take every descriptor the
// master has; root's are not bounded, as its connections are not.
//
// A fork reserves its ghost's place before the ghost is made (reserve).
// The ghost's connection comes from its parent ghost (procs_space_pair.go)
// and the reservation is its place at once. The child of a ghost come
// back from an older master connects instead: its connection is accepted
// like any other, and counted by maxconns until its hello shows it is a
// descendant's; then that count is given back and the reservation is
// its place. A connection that comes while its user holds maxconns is
// still let in, to be read, if the user has reservations whose ghosts
// have not connected: it is closed unless it is one of them (admit,
// provisional).
const descFactor = 4

// descSlot is one reserved descendant ghost's place.
type descSlot struct {
	c         *conns
	uid       uint32
	mu        sync.Mutex
	connected bool
	released  bool
}

// reserve takes a descendant ghost's place for uid; ok is false when uid
// holds descFactor times maxconns of them.
func (c *conns) reserve(uid uint32) (*descSlot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uid != 0 && c.desc[uid] >= descFactor*c.limit {
		return nil, false
	}
	c.desc[uid]++
	c.waiting[uid]++
	return &descSlot{c: c, uid: uid}, true
}

// reserveReturned takes a place for a descendant ghost of uid that came
// back to a restarted master (procs_restart_desc.go), past the bound if
// need be: its process runs already.
func (c *conns) reserveReturned(uid uint32) *descSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.desc[uid]++
	c.waiting[uid]++
	return &descSlot{c: c, uid: uid}
}

// descLimit is the bound in force on a user's descendant ghosts.
func (c *conns) descLimit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return descFactor * c.limit
}

// arrived: the slot's ghost has connected (once).
func (s *descSlot) arrived() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected || s.released {
		return
	}
	s.connected = true
	s.c.mu.Lock()
	s.c.drop(s.c.waiting, s.uid)
	s.c.mu.Unlock()
}

// release gives the place back: the ghost has ended, or never came.
func (s *descSlot) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return
	}
	s.released = true
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if !s.connected {
		s.c.drop(s.c.waiting, s.uid)
	}
	s.c.drop(s.c.desc, s.uid)
}

// drop takes one off m[uid]; c.mu held.
func (c *conns) drop(m map[uint32]int, uid uint32) {
	if m[uid]--; m[uid] <= 0 {
		delete(m, uid)
	}
}

// admit counts a new connection of uid as take does. Past maxconns, a
// user with descendant ghosts on their way is let in provisionally: the
// connection is not counted, and must turn out to be one of them.
func (c *conns) admit(uid uint32) (release func(), provisional, ok bool) {
	if release, ok := c.take(uid); ok {
		return release, false, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting[uid] > 0 {
		return func() {}, true, true
	}
	return nil, false, false
}
