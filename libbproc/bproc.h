/*
 * bproc.h: BProc's library calls for C programs, answered by bpmaster over
 * its unix socket ($BPROC_SOCKET, else /run/bproc/master.sock) with the
 * protocol of the Go tools (package localapi).
 *
 * Link with -lbproc (static: bin/libbproc.a; shared: libbproc.so).
 *
 * Every call that can fail returns -1 (or NULL) and sets errno, as BProc
 * did: BProc's own numbers (BE_INVALIDNODE ...) or the system's (EACCES,
 * EPERM, ENOENT when no master listens on the socket, EPROTO for a reply
 * the library cannot make sense of). bproc_strerror() turns either into
 * text. Each call opens its own connection, so the calls may be used from
 * several threads at once and in forked children.
 *
 * The calls work where the master's socket is: on the master. A process
 * that bproc started on a node learns its node from bproc_currnode().
 */
#ifndef BPROC_H
#define BPROC_H

#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Node numbers that are not a node's: BProc's values. */
#define BPROC_NODE_MASTER (-1) /* the front end */
#define BPROC_NODE_SELF (-2)   /* the caller's own node */
#define BPROC_NODE_NONE (-3)
#define BPROC_NODE_ANY (-4) /* bproc_proclist: every node */

/* BProc's error numbers, above the system's errno values. */
#define BE_BASE 300
#define BE_INVALIDNODE (BE_BASE + 0)    /* "Invalid node number" */
#define BE_NODEDOWN (BE_BASE + 1)       /* "Node is down" */
#define BE_SAMENODE (BE_BASE + 2)       /* "Move to same node" */
#define BE_SLAVEDIED (BE_BASE + 3)      /* "Slave node died" */
#define BE_INVALIDPROCESS (BE_BASE + 4) /* "Invalid process ID" */
#define BE_END (BE_BASE + 5)

/*
 * Node states, with BProc 3's names and numbers. reboot, halt and pwroff
 * are actions: bproc_nodesetstatus() with one of them starts it, and the
 * node is down from then on; the master never reports them as a state.
 */
enum bproc_node_state {
	bproc_node_down = 0,
	bproc_node_unavailable,
	bproc_node_error,
	bproc_node_up,
	bproc_node_reboot,
	bproc_node_halt,
	bproc_node_pwroff,
	bproc_node_boot,
	bproc_node_num_states
};
typedef enum bproc_node_state bproc_node_state_t;

/* bproc_access's mode: the only permission a node has is to run there. */
#define BPROC_X_OK 1

struct bproc_node_info_t {
	int node;
	int status;        /* enum bproc_node_state */
	unsigned int mode; /* execute bits only: 0111 = everyone may run there */
	unsigned int user;
	unsigned int group;
	/* The node's IP address (port 0), ss_family AF_UNSPEC while the master
	 * has never seen the node connect. BProc had a struct sockaddr here,
	 * which has no room for IPv6. */
	struct sockaddr_storage addr;
};

struct bproc_proc_info_t {
	int pid;      /* the ghost's PID on the master */
	int node;     /* where the process runs */
	int node_pid; /* its PID there: equal unless the number was taken */
	unsigned int uid;
};

/* The number of nodes: one more than the highest node number. */
int bproc_numnodes(void);

/* The node the caller runs on: BPROC_NODE_MASTER on the master, else the
 * node it runs on. It asks the master (its socket on the master, or the
 * node's relay of it), which knows also where a moved process went; with
 * no master to ask it falls back on $BPROC_NODE, which the master puts in
 * every remote process's environment (the node it, or its parent, was
 * started on). So it never fails, and leaves errno as it was. */
int bproc_currnode(void);

/* A node's state (enum bproc_node_state). The master is always up. */
int bproc_nodestatus(int node);

/* The name of a state ("up", "down", ...), or NULL for a number that is
 * none; and the state of a name, or -1 with errno EINVAL. */
const char *bproc_nodestatus_string(int status);
int bproc_nodestatus_byname(const char *name);

/* Sets a node's state (up, error, unavailable) or starts an action (reboot,
 * halt, pwroff). Root only: EPERM otherwise. */
int bproc_nodesetstatus(int node, int status);
int bproc_nodereboot(int node);
int bproc_nodehalt(int node);
int bproc_nodepwroff(int node);

/* The node table: *list is one malloc'd array the caller frees; the
 * return value is its length. */
int bproc_nodelist(struct bproc_node_info_t **list);
int bproc_nodeinfo(int node, struct bproc_node_info_t *info);

/* A node's address into s; *size is s's size on entry and the address's
 * on return (EINVAL when it is too small). BE_NODEDOWN for a node that has
 * never connected. The master's own address is not known to the local
 * API: BPROC_NODE_MASTER gives EADDRNOTAVAIL. */
int bproc_nodeaddr(int node, struct sockaddr *s, int *size);

/* The node the remote process whose ghost has PID pid runs on;
 * BE_INVALIDPROCESS for a PID that is no ghost. */
int bproc_pidnode(int pid);

/* The remote processes on node (BPROC_NODE_ANY: on every node): *list is
 * one malloc'd array the caller frees (NULL when there are none); the
 * return value is its length. */
int bproc_proclist(int node, struct bproc_proc_info_t **list);

/* A node's permissions, which work like a file's execute bits. Only root
 * chowns; the owner (or root) chmods, and chgrps to one of its groups. */
int bproc_chmod(int node, int mode);
int bproc_chown(int node, int user);
int bproc_chgrp(int node, int group);

/* 0 when the caller (its effective IDs and groups) may start processes on
 * node now, by the same rules the master applies: the node up (or, for
 * root, error or unavailable), then its owner, group and mode. Else -1 with
 * BE_NODEDOWN or EACCES. The master decides again at each start. */
int bproc_access(int node, int mode);

/*
 * An fd that becomes readable when the node table changes (a node comes,
 * goes, changes state or permissions), and at least once a minute besides:
 * the caller re-reads what it cares about either way. Poll or select it;
 * when it is readable, call bproc_notifier_rearm(fd) to wait for the next
 * change. close(2) it when done. If the master goes away the fd becomes
 * readable and bproc_notifier_rearm() fails: close it and ask for a new one.
 */
int bproc_notifier(void);
int bproc_notifier_rearm(int fd);

/* The text of err: BProc's for BE_*, strerror's for the rest. */
const char *bproc_strerror(int err);

#ifdef __cplusplus
}
#endif

/* Moving processes: bproc_rfork, bproc_vrfork, bproc_move, bproc_rexec,
 * bproc_execmove, bproc_vexecmove. */
#include "move.h"

#endif
