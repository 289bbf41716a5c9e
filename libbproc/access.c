/*
 * access.c: whether the caller may start processes on a node, by the
 * master's own rules (master/access.go), so that a program can choose
 * its nodes before it asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "bproc.h"
#include "call.h"
#include "nodes.h"

/* in_group: the master sees the caller's groups through SO_PEERCRED and
 * SO_PEERGROUPS, which are its effective group and supplementary groups. */
static int in_group(gid_t gid)
{
	if (getegid() == gid)
		return 1;
	int n = getgroups(0, NULL);
	if (n <= 0)
		return 0;
	gid_t *groups = malloc((size_t)n * sizeof *groups);
	if (groups == NULL)
		return 0;
	n = getgroups(n, groups);
	int found = 0;
	for (int i = 0; i < n && !found; i++)
		found = groups[i] == gid;
	free(groups);
	return found;
}

/* allows is perms.allows: like a file's execute bits; root always may. */
static int allows(const struct bproc_node_info_t *info)
{
	uid_t uid = geteuid();
	if (uid == 0)
		return 1;
	if (uid == info->user)
		return (info->mode & 0100) != 0;
	if (in_group(info->group))
		return (info->mode & 0010) != 0;
	return (info->mode & 0001) != 0;
}

int bproc_access(int node, int mode)
{
	if (mode & ~BPROC_X_OK) {
		errno = EINVAL;
		return -1;
	}
	node = bpi_node(node);
	if (node == BPROC_NODE_MASTER)
		return 0;
	struct bproc_node_info_t info;
	if (bpi_lookup(node, &info) < 0)
		return -1;
	if (mode == 0)
		return 0; /* as access(2)'s F_OK: the node exists */
	switch (info.status) {
	case bproc_node_up:
		break;
	case bproc_node_error:
	case bproc_node_unavailable:
		/* For root to look into; the master says "Node is unavailable"
		 * to anyone else, which maps to BE_NODEDOWN. */
		if (geteuid() == 0)
			break;
		errno = BE_NODEDOWN;
		return -1;
	default:
		errno = BE_NODEDOWN;
		return -1;
	}
	if (!allows(&info)) {
		errno = EACCES;
		return -1;
	}
	return 0;
}
