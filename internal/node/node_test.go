package node

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSessionOf reads a process's session from /proc, -1 when it is gone.
func TestSessionOf(t *testing.T) {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionOf(os.Getpid()); got != sid {
		t.Errorf("sessionOf(self) = %d, want %d", got, sid)
	}
	if got := sessionOf(1 << 30); got != -1 { // above any pid_max
		t.Errorf("sessionOf(no such process) = %d, want -1", got)
	}
}

// TestSessionSweep: the sessions of remote processes are kept until there
// are maxSessions of them; then those no process is left in are dropped,
// and the next sweep waits until twice as many as are still live.
func TestSessionSweep(t *testing.T) {
	s := testSlave(t)
	live, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	gone := 1 << 30 // no process has a session above pid_max
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[live] = true
	for i := 0; len(s.sessions) < maxSessions-2; i++ {
		s.sessions[gone+i] = true
	}
	s.startedLocked(os.Getpid()) // one below the mark: no sweep
	if len(s.sessions) != maxSessions-1 {
		t.Fatalf("%d sessions after a start below the mark, want %d", len(s.sessions), maxSessions-1)
	}
	if s.procs[os.Getpid()] == nil {
		t.Error("the started process is not recorded")
	}
	s.startedLocked(os.Getppid()) // at the mark: the ended ones go
	if !s.sessions[live] {
		t.Error("a live session was dropped")
	}
	for sid := range s.sessions {
		if sid >= gone {
			t.Fatalf("session %d, which no process is in, kept", sid)
		}
	}
	if s.pruneAt != 2*len(s.sessions) {
		t.Errorf("next sweep at %d sessions, want twice the %d left", s.pruneAt, len(s.sessions))
	}
}
