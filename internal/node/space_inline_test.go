package node

import "testing"

// TestChildState: the state read of a fork's parent stands for its child's
// only at the child's first call after the fork (the notification handled
// next), once the child is held at that PID.
func TestChildState(t *testing.T) {
	q := newCallQueue(nil)
	d := &forkDone{poke: make(chan struct{}, 1), done: make(chan struct{}), steer: 300, known: true,
		parent: procState{pgid: 7, sid: 5, threads: 1}}
	q.busy++ // as claim or read
	q.handled(d)
	child := &seccompNotif{pid: 300}
	if q.childState(child) != nil {
		t.Error("state known before the child is held")
	}
	d.child = 300
	close(d.done)
	if st := q.childState(child); st == nil || st.pgid != 7 || st.sid != 5 {
		t.Errorf("childState = %+v, want the parent's", st)
	}
	if q.childState(&seccompNotif{pid: 301}) != nil {
		t.Error("state known of another caller")
	}
	d.known = false
	if q.childState(child) != nil {
		t.Error("state known though the parent's was not read")
	}
	d.known = true
	q.busy++
	q.handled(nil) // another notification came between
	if q.childState(child) != nil {
		t.Error("state known after another notification")
	}
}

// TestChildCalls: the reader settles the last fork itself only for a call
// of its steered child while the handler is idle.
func TestChildCalls(t *testing.T) {
	q := newCallQueue(nil)
	d := &forkDone{poke: make(chan struct{}, 1), done: make(chan struct{}), steer: 300}
	q.busy++ // as claim or read
	q.handled(d)
	if q.childCalls(&seccompNotif{pid: 300}) != d {
		t.Error("the child's call does not settle the fork in the reader")
	}
	if q.childCalls(&seccompNotif{pid: 299}) != nil {
		t.Error("another's call settles the fork in the reader")
	}
	q.busy = 1
	if q.childCalls(&seccompNotif{pid: 300}) != nil {
		t.Error("settled in the reader while the handler is busy")
	}
	q.busy = 0
	if d.settleWithin(0) {
		t.Error("settleWithin: over before the child is held")
	}
	select {
	case <-d.poke:
	default:
		t.Error("settleWithin did not poke the finder")
	}
	close(d.done)
	if !d.settleWithin(0) {
		t.Error("settleWithin: not over once done")
	}
}
