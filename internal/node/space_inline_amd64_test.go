package node

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestInlineClaim: the reader answers a call itself only while the
// handler is idle: nothing queued or being handled, the last fork's child
// held, nothing carried for the thread and no exit held for it; and only
// calls that do not block (a fork asks the master, an exit may wait).
func TestInlineClaim(t *testing.T) {
	q := newCallQueue(newExitHolds(func(uint64) {}, nil))
	wait := &seccompNotif{pid: 10, nr: unix.SYS_WAIT4}
	if !inlineCall(wait) || !inlineCall(&seccompNotif{nr: unix.SYS_EXECVE}) {
		t.Error("wait4 and execve: not answered in the reader")
	}
	for _, nr := range []int{unix.SYS_CLONE, unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_EXIT_GROUP, unix.SYS_EXIT} {
		if inlineCall(&seccompNotif{nr: int32(nr)}) {
			t.Errorf("call %d answered in the reader", nr)
		}
	}
	if !q.claim(wait) {
		t.Fatal("idle handler: claim refused")
	}
	if q.claim(wait) {
		t.Error("claimed twice")
	}
	q.handled(nil)

	q.read(&seccompNotif{pid: 11, nr: unix.SYS_CLONE}) // queued for the handler
	if q.claim(wait) {
		t.Error("claimed while a notification waits for the handler")
	}
	<-q.ch
	q.handled(&forkDone{done: make(chan struct{})}) // its child not held yet
	if q.claim(wait) {
		t.Error("claimed before the last fork's child is held")
	}
	close(q.last.done)
	q.keep(10, &carried{pid: 99, t: &tracked{ready: make(chan struct{})}})
	if q.claim(wait) {
		t.Error("claimed with a fork carried for the thread")
	}
	delete(q.carry, 10)
	q.exits.held[10] = []*heldExit{{tid: 12}}
	if q.claim(wait) {
		t.Error("claimed with an exit of its child held")
	}
	delete(q.exits.held, 10)
	if !q.claim(wait) {
		t.Error("idle again: claim refused")
	}
}
