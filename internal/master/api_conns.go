package master

import (
	"sync"
	"syscall"
)

// conns counts each user's connections to the local socket, so one user
// cannot take every descriptor the master has (two processes holding
// 10,500 idle connections each locked root out of a master of 20,000).
// Root is counted by no limit: a ghost per live process, 15,000 and more.
type conns struct {
	limit int
	mu    sync.Mutex
	n     map[uint32]int
	// Descendant ghosts, apart (api_conns_desc.go): held or reserved,
	// and reserved but not yet connected.
	desc, waiting map[uint32]int
}

// defaultMaxConns is a sixteenth of the descriptors the master may hold
// (65,536 of the kernel's usual 1,048,576), at least 1,024: more than any
// one user's ghosts and tools, few enough that several users together
// leave root its share.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return max(1024, int(min(rl.Cur, 1<<30)/16))
}

func newConns(limit int) *conns {
	if limit <= 0 {
		limit = defaultMaxConns()
	}
	return &conns{limit: limit, n: make(map[uint32]int), desc: make(map[uint32]int), waiting: make(map[uint32]int)}
}

// take counts a new connection of uid; ok is false when uid holds its
// limit already. release (once) uncounts it.
func (c *conns) take(uid uint32) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uid != 0 && c.n[uid] >= c.limit {
		return nil, false
	}
	c.n[uid]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[uid]--; c.n[uid] <= 0 {
				delete(c.n, uid)
			}
		})
	}, true
}

// setLimit applies a reloaded config's maxconns (0: the default). Users
// over a lowered limit keep what they hold and get no more.
func (c *conns) setLimit(limit int) {
	if limit <= 0 {
		limit = defaultMaxConns()
	}
	c.mu.Lock()
	c.limit = limit
	c.mu.Unlock()
}

// max is the limit in force.
func (c *conns) max() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limit
}
