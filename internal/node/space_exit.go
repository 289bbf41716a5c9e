package node

import "golang.org/x/sys/unix"

// A process's end waits for its own fork to be done with. The filter
// notifies exit_group, and the supervisor lets it go at once (exitCall):
// what matters is that the notifications of one tree are answered in
// order, so a process that has just been forked cannot end, nor can its
// parent, before the supervisor has found the child and holds it by a
// pidfd. Without that:
//
//   - a child whose parent ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT) and
//     which ended at once was reaped by the kernel in the same moment,
//     before anyone held a pidfd of it: its status was gone, its ghost
//     ended with SIGKILL, and the supervisor, seeing its parent blocked
//     in its next fork, waited childWait for it;
//   - a parent that ended at once (the middle of a double fork) left its
//     child to the namespace's init, where a child that did not get its
//     ghost's PID cannot be told from the other orphans: it ran without
//     a ghost.
//
// What is left: a process that ends by a signal in that moment (a
// signal is no call), and one whose last thread ends with exit (a
// thread's end, not notified: it would cost every thread of every
// program a round trip).

// exitCall: n is an exit_group, to be let go at once.
func exitCall(n *seccompNotif) bool { return int(n.nr) == unix.SYS_EXIT_GROUP }
