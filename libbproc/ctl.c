/*
 * ctl.c: changing a node, as bpctl does: its state, an action, its owner,
 * group or mode. The master decides who may (master/ctl.go).
 */
#include <errno.h>
#include <stdio.h>

#include "bproc.h"
#include "call.h"

/* ctl sends one change (a JSON member of localapi.Ctl) for node and turns
 * the master's answer for it into errno. */
static int ctl(int node, const char *change)
{
	node = bpi_node(node);
	if (node < 0) {
		errno = BE_INVALIDNODE;
		return -1;
	}
	char req[BPI_MAXREQUEST];
	snprintf(req, sizeof req, "{\"op\":\"ctl\",\"ctl\":{\"nodes\":[%d],%s}}", node, change);
	struct bpi_reply r;
	if (bpi_call(req, &r) < 0)
		return -1;
	/* A node the master could not change is listed under "failed" with
	 * why; one asked about alone is the only one there can be. */
	int ret = 0, err = 0;
	int failed = bpi_json_get(&r.json, 0, "failed");
	if (failed >= 0 && r.json.tok[failed].type != BPI_JNULL) {
		if (r.json.tok[failed].type != BPI_JARR) {
			ret = -1;
			err = EPROTO;
		}
		for (int e = bpi_json_first(&r.json, failed); e >= 0 && ret == 0; e = bpi_json_next(&r.json, failed, e)) {
			char text[BPI_ERRTEXT];
			ret = -1;
			err = bpi_json_str(&r.json, bpi_json_get(&r.json, e, "error"), text, sizeof text) > 0 ? bpi_errno(&r.json, e, text) : EPROTO;
		}
	}
	bpi_reply_free(&r);
	errno = err;
	return ret;
}

int bproc_nodesetstatus(int node, int status)
{
	char change[64];
	switch (status) {
	case bproc_node_up:
	case bproc_node_error:
	case bproc_node_unavailable:
		snprintf(change, sizeof change, "\"state\":\"%s\"", bproc_nodestatus_string(status));
		break;
	case bproc_node_reboot:
	case bproc_node_halt:
	case bproc_node_pwroff:
		snprintf(change, sizeof change, "\"action\":\"%s\"", bproc_nodestatus_string(status));
		break;
	default: /* down and boot are the master's to set */
		errno = EINVAL;
		return -1;
	}
	return ctl(node, change);
}

int bproc_nodereboot(int node)
{
	return bproc_nodesetstatus(node, bproc_node_reboot);
}

int bproc_nodehalt(int node)
{
	return bproc_nodesetstatus(node, bproc_node_halt);
}

int bproc_nodepwroff(int node)
{
	return bproc_nodesetstatus(node, bproc_node_pwroff);
}

/* id sends a change of a 32-bit unsigned field. */
static int id(int node, const char *field, int value)
{
	if (value < 0) {
		errno = EINVAL;
		return -1;
	}
	char change[64];
	snprintf(change, sizeof change, "\"%s\":%d", field, value);
	return ctl(node, change);
}

int bproc_chmod(int node, int mode)
{
	return id(node, "mode", mode);
}

int bproc_chown(int node, int user)
{
	return id(node, "uid", user);
}

int bproc_chgrp(int node, int group)
{
	return id(node, "gid", group);
}
