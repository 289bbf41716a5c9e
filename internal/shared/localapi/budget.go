package localapi

import (
	"fmt"
	"sync"
	"time"
)

// DefaultBudget is how many bytes of requests one user may have the
// master read at once: two of the largest runs.
const DefaultBudget = 2 * MaxRun

// Budget bounds the bytes of requests being read for each user, so that
// a user's unfinished frames, however many connections carry them, hold
// at most Limit of the master's memory. Root is not charged: it is the
// master's own administrator. The zero value is not useful; use
// NewBudget.
type Budget struct {
	limit int
	mu    sync.Mutex
	used  map[uint32]int
	freed chan struct{} // closed and replaced whenever bytes are released
}

// NewBudget returns a budget of limit bytes per user.
func NewBudget(limit int) *Budget {
	return &Budget{limit: limit, used: make(map[uint32]int), freed: make(chan struct{})}
}

// Charge reserves n bytes for uid, waiting until deadline for others of
// uid's requests to finish when they hold too much; release gives them
// back. A request larger than the whole budget is never let through.
func (b *Budget) Charge(uid uint32, n int, deadline time.Time) (release func(), err error) {
	if uid == 0 {
		return func() {}, nil
	}
	if n > b.limit {
		return nil, fmt.Errorf("larger than the %d bytes a user's requests may hold at once", b.limit)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.used[uid]+n <= b.limit {
			b.used[uid] += n
			b.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { b.release(uid, n) }) }, nil
		}
		freed := b.freed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-freed:
		case <-timer.C:
			return nil, fmt.Errorf("uid %d has %d bytes of requests being read already, the most a user may (waited until the deadline)", uid, b.limit)
		}
	}
}

func (b *Budget) release(uid uint32, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used[uid] -= n; b.used[uid] <= 0 {
		delete(b.used, uid)
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// Used is how many bytes uid holds now (for tests).
func (b *Budget) Used(uid uint32) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used[uid]
}
