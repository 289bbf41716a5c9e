/*
 * notifier.c: an fd that becomes readable when the node table changes.
 *
 * It is a connection to the master with a watch request outstanding: the
 * master answers a watch at the next change of the table, or after a
 * minute (master/nodes.go, watchLimit). The answer makes the fd readable;
 * re-arming reads it and asks again.
 *
 * A change that happens before the master has taken the request shows
 * only at the next answer: the protocol has no way to say "since this
 * table". The minute bounds how late that is.
 */
#include <errno.h>
#include <unistd.h>

#include "bproc.h"
#include "call.h"

static const char watch[] = "{\"op\":\"watch\"}";

int bproc_notifier(void)
{
	int fd = bpi_dial();
	if (fd < 0)
		return -1;
	if (bpi_send(fd, watch) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int bproc_notifier_rearm(int fd)
{
	struct bpi_reply r;
	if (bpi_recv(fd, &r) < 0)
		return -1;
	bpi_reply_free(&r);
	return bpi_send(fd, watch);
}
