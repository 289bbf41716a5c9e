package node

import "golang.org/x/sys/unix"

// A process's end waits for its own fork to be done with. The filter
// notifies exit_group and exit, and the supervisor lets them go at once
// (exitCall): what matters is that the notifications of one tree are
// answered in order, so a process that has just been forked cannot end,
// nor can its parent, before the supervisor has found the child and
// holds it by a pidfd. Without that:
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
// exit, a thread's end, is notified too: a process whose last thread
// ends so (syscall(SYS_exit), a program whose main thread left through
// pthread_exit) ends with it, and lost its status as above. The filter
// cannot tell the last thread from the others, so every thread's end
// costs a notification (BenchmarkSpaceThreadExit) and waits for a fork
// of its tree in progress.
//
// A signal is no call: a child of a parent that ignores SIGCHLD is held
// before it runs instead (space_hold.go). What is left: a child that a
// signal ends in that moment while its parent ends too.

// exitCall: n is an exit_group or an exit, to be let go at once.
func exitCall(n *seccompNotif) bool {
	return int(n.nr) == unix.SYS_EXIT_GROUP || int(n.nr) == unix.SYS_EXIT
}
