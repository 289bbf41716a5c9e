/*
 * nodes.c: the node table: numbers, states, rows and addresses.
 */
#include "nodes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

static const char *const state_names[bproc_node_num_states] = {
	[bproc_node_down] = "down",
	[bproc_node_unavailable] = "unavailable",
	[bproc_node_error] = "error",
	[bproc_node_up] = "up",
	[bproc_node_reboot] = "reboot",
	[bproc_node_halt] = "halt",
	[bproc_node_pwroff] = "pwroff",
	[bproc_node_boot] = "boot",
};

const char *bproc_nodestatus_string(int status)
{
	if (status < 0 || status >= bproc_node_num_states)
		return NULL;
	return state_names[status];
}

int bproc_nodestatus_byname(const char *name)
{
	for (int i = 0; name != NULL && i < bproc_node_num_states; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	errno = EINVAL;
	return -1;
}

int bproc_currnode(void)
{
	/* The master knows where the caller asks from, also after it moved
	 * (its environment does not change then). */
	struct bpi_reply r;
	int saved = errno;
	if (bpi_call("{\"op\":\"where\"}", &r) == 0) {
		long long v;
		int t = bpi_json_get(&r.json, 0, "where");
		int ok = t >= 0 && bpi_json_int(&r.json, t, BPROC_NODE_MASTER, INT_MAX, &v) == 0;
		bpi_reply_free(&r);
		if (ok) {
			errno = saved;
			return (int)v;
		}
	}
	errno = saved;
	/* No master to ask: the master puts BPROC_NODE in every remote
	 * process's environment, and bpsh puts -1 in what it runs on the
	 * master. */
	const char *s = getenv("BPROC_NODE");
	if (s == NULL || *s == '\0')
		return BPROC_NODE_MASTER;
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < BPROC_NODE_MASTER || n > INT_MAX)
		return BPROC_NODE_MASTER;
	return (int)n;
}

int bpi_node(int node)
{
	return node == BPROC_NODE_SELF ? bproc_currnode() : node;
}

/* parse_addr reads an address as the master prints it (an IP, no port);
 * anything else leaves the family AF_UNSPEC. */
static void parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1)
		in->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else
		memset(ss, 0, sizeof *ss);
}

static int parse_node(const struct bpi_json *j, int t, struct bproc_node_info_t *info)
{
	long long num, uid, gid, mode;
	char state[32], addr[INET6_ADDRSTRLEN + 1] = "";
	if (bpi_json_int(j, bpi_json_get(j, t, "num"), 0, INT_MAX, &num) < 0 ||
	    bpi_json_str(j, bpi_json_get(j, t, "state"), state, sizeof state) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "uid"), 0, UINT32_MAX, &uid) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "gid"), 0, UINT32_MAX, &gid) < 0 ||
	    bpi_json_int(j, bpi_json_get(j, t, "mode"), 0, UINT32_MAX, &mode) < 0)
		return -1;
	int status = bproc_nodestatus_byname(state);
	if (status < 0)
		return -1;
	memset(info, 0, sizeof *info);
	info->node = (int)num;
	info->status = status;
	info->user = (unsigned int)uid;
	info->group = (unsigned int)gid;
	info->mode = (unsigned int)mode;
	int a = bpi_json_get(j, t, "addr");
	if (a >= 0 && bpi_json_str(j, a, addr, sizeof addr) > 0)
		parse_addr(addr, &info->addr);
	return 0;
}

int bpi_parse_nodes(const struct bpi_json *j, int t, struct bproc_node_info_t **list)
{
	*list = NULL;
	int arr = bpi_json_get(j, t, "nodes");
	if (arr < 0 || j->tok[arr].type == BPI_JNULL)
		return 0; /* Go omits an empty table */
	if (j->tok[arr].type != BPI_JARR)
		goto bad;
	size_t n = 0;
	for (int e = bpi_json_first(j, arr); e >= 0; e = bpi_json_next(j, arr, e))
		n++;
	if (n == 0)
		return 0;
	if (n > INT_MAX)
		goto bad;
	*list = calloc(n, sizeof **list);
	if (*list == NULL)
		return -1;
	size_t i = 0;
	for (int e = bpi_json_first(j, arr); e >= 0; e = bpi_json_next(j, arr, e))
		if (parse_node(j, e, &(*list)[i++]) < 0)
			goto bad;
	return (int)n;
bad:
	free(*list);
	*list = NULL;
	errno = EPROTO;
	return -1;
}

int bpi_nodes(struct bproc_node_info_t **list)
{
	struct bpi_reply r;
	if (bpi_call("{\"op\":\"nodes\"}", &r) < 0)
		return -1;
	int n = bpi_parse_nodes(&r.json, 0, list);
	int e = errno;
	bpi_reply_free(&r);
	errno = e;
	return n;
}

int bpi_lookup(int node, struct bproc_node_info_t *info)
{
	if (node < 0) {
		errno = BE_INVALIDNODE;
		return -1;
	}
	struct bproc_node_info_t *list;
	int n = bpi_nodes(&list);
	if (n < 0)
		return -1;
	int found = -1;
	for (int i = 0; i < n; i++)
		if (list[i].node == node) {
			*info = list[i];
			found = 0;
		}
	free(list);
	if (found < 0)
		errno = BE_INVALIDNODE;
	return found;
}

int bproc_numnodes(void)
{
	struct bproc_node_info_t *list;
	int n = bpi_nodes(&list);
	if (n < 0)
		return -1;
	/* Nodes are numbered from 0; a config may leave numbers out, and a
	 * loop up to this count still meets every node. */
	int max = -1;
	for (int i = 0; i < n; i++)
		if (list[i].node > max)
			max = list[i].node;
	free(list);
	return max + 1;
}

int bproc_nodestatus(int node)
{
	node = bpi_node(node);
	if (node == BPROC_NODE_MASTER)
		return bproc_node_up;
	struct bproc_node_info_t info;
	if (bpi_lookup(node, &info) < 0)
		return -1;
	return info.status;
}

int bproc_nodelist(struct bproc_node_info_t **list)
{
	if (list == NULL) {
		errno = EFAULT;
		return -1;
	}
	return bpi_nodes(list);
}

int bproc_nodeinfo(int node, struct bproc_node_info_t *info)
{
	if (info == NULL) {
		errno = EFAULT;
		return -1;
	}
	return bpi_lookup(bpi_node(node), info);
}

int bproc_nodeaddr(int node, struct sockaddr *s, int *size)
{
	if (s == NULL || size == NULL) {
		errno = EFAULT;
		return -1;
	}
	node = bpi_node(node);
	if (node == BPROC_NODE_MASTER) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	struct bproc_node_info_t info;
	if (bpi_lookup(node, &info) < 0)
		return -1;
	int len;
	switch (info.addr.ss_family) {
	case AF_INET:
		len = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		len = sizeof(struct sockaddr_in6);
		break;
	default:
		errno = BE_NODEDOWN;
		return -1;
	}
	if (*size < len) {
		errno = EINVAL;
		return -1;
	}
	memcpy(s, &info.addr, (size_t)len);
	*size = len;
	return 0;
}
