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
 * working directory. Standard input, output and error stay connected
 * through the ghost; other descriptors are closed, as BProc's were.
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
 * not return on the master). -1 and errno when it could not move. */
int bproc_move(int node);

#ifdef __cplusplus
}
#endif

#endif
