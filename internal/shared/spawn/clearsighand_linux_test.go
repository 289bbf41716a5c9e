package spawn

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestChildHandlersClearedByClone: the kernel resets Go's handlers in the
// child as it creates it (CLONE_CLEAR_SIGHAND), instead of the child
// resetting each of 62 signals with rt_sigaction while its parent waits
// for its execve (checkSignals holds what the child then execs with).
func TestChildHandlersClearedByClone(t *testing.T) {
	c, err := prepare(&Attr{Path: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.clone.flags&unix.CLONE_CLEAR_SIGHAND == 0 {
		t.Errorf("clone3 flags %#x lack CLONE_CLEAR_SIGHAND", c.clone.flags)
	}
	if c.clone.flags&unix.CLONE_SIGHAND != 0 {
		t.Errorf("clone3 flags %#x share the handler table (CLONE_SIGHAND)", c.clone.flags)
	}
}
