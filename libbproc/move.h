/*
 * move.h: moving processes to nodes (included by bproc.h).
 *
 * bproc_rfork(node) forks, and the child is moved to node: it goes on
 * there with the parent's memory and registers as they were at the call,
 * and bproc_rfork returns 0 in it. The parent gets the child's PID, which
 * is the PID the child has on the node, and the child stays in its process
 * tree as a ghost: wait() returns its exit status, kill() reaches it, ps
 * shows it. On failure the parent gets -1 and errno (BE_NODEDOWN,
 * BE_INVALIDNODE, BE_SAMENODE, BE_SLAVEDIED, EACCES, EINVAL for a process
 * with more than one thread), and there is no child.
 *
 * What moves: the address space (memory of the process's own as data, its
 * files' mappings as references: the node maps them from its view of the
 * master's files), registers and FPU state, signal handlers and mask, the
 * working directory, the interval timers (alarm, setitimer: what was left
 * of each when the process was read; the move's own time does not count).
 * Standard input, output and error stay connected through the ghost; other
 * descriptors are closed, as BProc's were.
 *
 * What is refused, with EINVAL and the master's line saying which: a file
 * mapped MAP_SHARED (on a node its file is a copy of the master's, whose
 * changes would reach neither the master's file nor anyone mapping it;
 * unmap it, or map it MAP_PRIVATE, before moving), POSIX timers
 * (timer_create: a timer's ID cannot be chosen again), more than one
 * thread. Shared anonymous memory moves, and is then shared with no one.
 */
#ifndef BPROC_MOVE_H
#define BPROC_MOVE_H

#ifdef __cplusplus
extern "C" {
#endif

int bproc_rfork(int node);

/* bproc_vrfork forks one child to each of the n nodes. In the parent it
 * returns n, with pids[i] the child's PID on nodes[i] or -errno; in the
 * child on nodes[i] it returns i. */
int bproc_vrfork(int n, const int *nodes, int *pids);

/* bproc_move moves the calling process itself to node: it returns 0 there,
 * and what was the process on the master becomes its ghost (the call does
 * not return on the master). -1 and errno when it could not move. From a
 * node it moves to another node, or with BPROC_NODE_MASTER back to the
 * master: there the process is rebuilt in its ghost, which has its PID and
 * is its parent's child, so it is again an ordinary process of the master
 * (its parent's wait() gets its status, its stdio are the ghost's, signals
 * sent to it meanwhile are pending). One thing differs for a process not
 * run by root: /proc/PID/exe names the ghost stub (setting it again takes
 * CAP_CHECKPOINT_RESTORE). A process may move on as soon as it has
 * arrived: the master waits for it to be where it says. */
int bproc_move(int node);

/* bproc_rexec replaces the calling process by cmd (an absolute path, or
 * one relative to the working directory, as execve takes it) running on
 * node with argv and envp: the PID stays, and what was the process on the
 * master becomes its ghost. It returns only on failure, -1 and errno.
 * bproc_execmove is the same here (BProc executed cmd on the master first
 * and then moved it; the program is the same either way: the master's).
 * bproc_vexecmove forks a child per node that does bproc_execmove, and
 * returns n with pids[i] each child's PID (or -errno). */
int bproc_rexec(int node, const char *cmd, char *const argv[], char *const envp[]);
int bproc_execmove(int node, const char *cmd, char *const argv[], char *const envp[]);
int bproc_vexecmove(int n, const int *nodes, int *pids, const char *cmd, char *const argv[], char *const envp[]);

#ifdef __cplusplus
}
#endif

#endif
