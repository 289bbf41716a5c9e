package master

import (
	"testing"
	"time"
)

// A change of the node table between a client's two watches is not lost:
// the second watch returns at once with the new table.
func TestWatchMissesNoChange(t *testing.T) {
	m := &Master{nodes: map[int]*node{}, nodeChange: make(chan struct{}), routines: newRoutines()}
	_, seen := m.tableSince()
	m.mu.Lock()
	m.changedLocked() // while the client was drawing its table
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.awaitChange(seen, time.Minute)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch after a change it had not seen waits for the next one")
	}
	// With nothing new since, a watch waits for the next change.
	_, seen = m.tableSince()
	waited := make(chan struct{})
	go func() {
		m.awaitChange(seen, time.Minute)
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("a watch with no change since its table returned at once")
	case <-time.After(100 * time.Millisecond):
	}
	m.mu.Lock()
	m.changedLocked()
	m.mu.Unlock()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not return at the change")
	}
}
