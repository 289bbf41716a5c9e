/*
 * errors.c: BProc's error numbers, their texts, and the master's texts
 * turned back into numbers.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "bproc.h"
#include "call.h"

/* localapi.Err*'s texts by code (a Go test holds the two equal). */
static const char *const texts[BE_END - BE_BASE] = {
	[BE_INVALIDNODE - BE_BASE] = "Invalid node number",
	[BE_NODEDOWN - BE_BASE] = "Node is down",
	[BE_SAMENODE - BE_BASE] = "Move to same node",
	[BE_SLAVEDIED - BE_BASE] = "Slave node died",
	[BE_INVALIDPROCESS - BE_BASE] = "Invalid process ID",
};

const char *bproc_strerror(int err)
{
	if (err >= BE_BASE && err < BE_END)
		return texts[err - BE_BASE];
	return strerror(err);
}

/* The master answers with BProc's texts, sometimes after what it was
 * doing ("signal 7: Invalid process ID"), and with Go's texts of system
 * errors, which are lower case. These are localapi.Errors, in its order
 * (a Go test holds the two equal); the master sends their codes too. */
static const struct {
	const char *text;
	int err;
} known[] = {
	{"Invalid node number", BE_INVALIDNODE},
	{"Node is down", BE_NODEDOWN},
	{"Move to same node", BE_SAMENODE},
	{"Slave node died", BE_SLAVEDIED},
	{"Invalid process ID", BE_INVALIDPROCESS},
	/* Not BProc's: Scyld's state that turns users away. BProc had one
	 * answer for a node a process cannot go to. */
	{"Node is unavailable", BE_NODEDOWN},
	{"Permission denied", EACCES},
	/* A node whose CPU lacks what the process's C library chose. */
	{"Exec format error", ENOEXEC},
	{"Operation not permitted", EPERM},
	/* A master older than the library. */
	{"unknown operation", ENOSYS},
	/* Remote fork and move where they are not ported (arm64 so far). */
	{"function not implemented", ENOSYS},
	/* A file a moved process maps that changed on the master since. */
	{"was replaced since the process mapped it", ESTALE},
	/* What a node or the master could not find; last, the most general. */
	{"no such file or directory", ENOENT},
};

/* contains is a case-insensitive strstr. */
static int contains(const char *s, const char *word)
{
	size_t n = strlen(word);
	for (; *s; s++)
		if (strncasecmp(s, word, n) == 0)
			return 1;
	return 0;
}

int bpi_errno(const struct bpi_json *j, int obj, const char *text)
{
	long long code;
	int c = bpi_json_get(j, obj, "code");
	if (c >= 0 && bpi_json_int(j, c, 1, BE_END - 1, &code) == 0)
		return (int)code;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (contains(text, known[i].text))
			return known[i].err;
	return EINVAL;
}
