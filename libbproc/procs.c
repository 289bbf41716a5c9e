/*
 * procs.c: the remote processes, from the master's process list.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "bproc.h"
#include "call.h"
#include "nodes.h"

static int parse_proc(const struct bpi_json *j, int t, struct bproc_proc_info_t *p)
{
	long long pid, node, node_pid, uid;
	if (bpi_json_int(j, bpi_json_get(j, t, "pid"), 1, INT_MAX, &pid) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "node"), 0, INT_MAX, &node) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "node_pid"), 0, INT_MAX, &node_pid) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "uid"), 0, UINT32_MAX, &uid) < 0)
		return -1;
	p->pid = (int)pid;
	p->node = (int)node;
	p->node_pid = (int)node_pid;
	p->uid = (unsigned int)uid;
	return 0;
}

/* procs asks for every remote process and keeps those on node (any when
 * BPROC_NODE_ANY): their number, the rows in *list (malloc'd, NULL when
 * none). */
static int procs(int node, struct bproc_proc_info_t **list)
{
	*list = NULL;
	struct bpi_reply r;
	if (bpi_call("{\"op\":\"procs\"}", &r) < 0)
		return -1;
	const struct bpi_json *j = &r.json;
	int arr = bpi_json_get(j, 0, "procs"), n = 0;
	if (arr < 0 || j->tok[arr].type == BPI_JNULL)
		goto out; /* Go omits an empty list */
	if (j->tok[arr].type != BPI_JARR)
		goto bad;
	size_t total = 0;
	for (int e = bpi_json_first(j, arr); e >= 0; e = bpi_json_next(j, arr, e))
		total++;
	if (total == 0)
		goto out;
	if (total > INT_MAX)
		goto bad;
	*list = calloc(total, sizeof **list);
	if (*list == NULL) {
		n = -1;
		goto out;
	}
	for (int e = bpi_json_first(j, arr); e >= 0; e = bpi_json_next(j, arr, e)) {
		struct bproc_proc_info_t p;
		if (parse_proc(j, e, &p) < 0)
			goto bad;
		if (node == BPROC_NODE_ANY || p.node == node)
			(*list)[n++] = p;
	}
	if (n == 0) {
		free(*list);
		*list = NULL;
	}
out:
	bpi_reply_free(&r);
	return n;
bad:
	free(*list);
	*list = NULL;
	bpi_reply_free(&r);
	errno = EPROTO;
	return -1;
}

int bproc_proclist(int node, struct bproc_proc_info_t **list)
{
	if (list == NULL) {
		errno = EFAULT;
		return -1;
	}
	node = bpi_node(node);
	if (node >= 0) {
		struct bproc_node_info_t info;
		if (bpi_lookup(node, &info) < 0)
			return -1;
	} else if (node != BPROC_NODE_ANY && node != BPROC_NODE_MASTER) {
		errno = BE_INVALIDNODE;
		return -1;
	}
	return procs(node, list);
}

int bproc_pidnode(int pid)
{
	if (pid <= 0) {
		errno = BE_INVALIDPROCESS;
		return -1;
	}
	struct bproc_proc_info_t *list;
	int n = procs(BPROC_NODE_ANY, &list);
	if (n < 0)
		return -1;
	int node = -1;
	for (int i = 0; i < n; i++)
		if (list[i].pid == pid)
			node = list[i].node;
	free(list);
	if (node < 0)
		errno = BE_INVALIDPROCESS;
	return node;
}
