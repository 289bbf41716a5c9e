/*
 * call.c: connecting to bpmaster, and its frames.
 */
#include "call.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* localapi.DefaultSocket. */
#define DEFAULT_SOCKET "/run/bproc/master.sock"

/* A master that takes longer than this to answer a request is stuck; the
 * slowest request (an action on a node that does not answer) takes 5 s.
 * The notifier's watch has no such bound: it sets its own. */
#define REPLY_TIMEOUT_SECONDS 120

const char *bpi_socket_path(void)
{
	/* A process started on a node carries the caller's environment:
	 * a $BPROC_SOCKET of the master's is not there, and the node's own
	 * socket is at the default path. */
	const char *path = getenv("BPROC_SOCKET");
	if (path == NULL || *path == '\0')
		return DEFAULT_SOCKET;
	if (strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path) && access(path, F_OK) != 0 && errno == ENOENT &&
	    access(DEFAULT_SOCKET, F_OK) == 0)
		return DEFAULT_SOCKET;
	return path;
}

int bpi_dial(void)
{
	const char *path = bpi_socket_path();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_SECONDS};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int bpi_send(int fd, const char *req)
{
	size_t n = strlen(req);
	char small[4 + BPI_MAXREQUEST];
	char *frame = small;
	if (n > BPI_MAXFRAME) {
		errno = E2BIG;
		return -1;
	}
	/* Most requests fit on the stack; a whole environment (rexec) not. */
	if (n > BPI_MAXREQUEST && (frame = malloc(4 + n)) == NULL)
		return -1;
	frame[0] = (char)(n >> 24);
	frame[1] = (char)(n >> 16);
	frame[2] = (char)(n >> 8);
	frame[3] = (char)n;
	memcpy(frame + 4, req, n);
	n += 4;
	int ret = 0;
	/* One write: the master reads the first bytes with recvmsg to tell a
	 * client from a ghost, and either way takes what follows. */
	for (size_t off = 0; off < n;) {
		/* MSG_NOSIGNAL: a master that went away is an error to return,
		 * not a SIGPIPE to kill the caller with. */
		ssize_t w = send(fd, frame + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -1;
			break;
		}
		off += (size_t)w;
	}
	if (frame != small) {
		int e = errno;
		free(frame);
		errno = e;
	}
	return ret;
}

/* readall reads exactly n bytes: 0, or -1 with ECONNRESET when the master
 * hung up first, ETIMEDOUT when it said nothing for too long. */
static int readall(int fd, char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = recv(fd, buf + off, n - off, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errno = ETIMEDOUT;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}

int bpi_recv(int fd, struct bpi_reply *r)
{
	memset(r, 0, sizeof *r);
	unsigned char hdr[4];
	if (readall(fd, (char *)hdr, sizeof hdr) < 0)
		return -1;
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > BPI_MAXFRAME) {
		errno = EPROTO;
		return -1;
	}
	r->buf = malloc(n ? n : 1);
	if (r->buf == NULL)
		return -1;
	if (readall(fd, r->buf, n) < 0 || bpi_json_parse(&r->json, r->buf, n) < 0) {
		int e = errno;
		free(r->buf);
		r->buf = NULL;
		errno = e;
		return -1;
	}
	if (r->json.tok[0].type != BPI_JOBJ) {
		bpi_reply_free(r);
		errno = EPROTO;
		return -1;
	}
	/* Go omits an empty error; null or "" mean none all the same. */
	int t = bpi_json_get(&r->json, 0, "error");
	if (t >= 0 && r->json.tok[t].type != BPI_JNULL) {
		char text[BPI_ERRTEXT];
		long len = bpi_json_str(&r->json, t, text, sizeof text);
		int err;
		if (r->json.tok[t].type != BPI_JSTR)
			err = EPROTO;
		else if (len < 0)
			err = EINVAL; /* longer than any text we know */
		else
			err = len == 0 ? 0 : bpi_errno(&r->json, 0, text);
		if (err != 0) {
			bpi_reply_free(r);
			errno = err;
			return -1;
		}
	}
	return 0;
}

int bpi_call(const char *req, struct bpi_reply *r)
{
	int fd = bpi_dial();
	if (fd < 0)
		return -1;
	int ret = bpi_send(fd, req);
	if (ret == 0)
		ret = bpi_recv(fd, r);
	int e = errno;
	close(fd);
	errno = e;
	return ret;
}

void bpi_reply_free(struct bpi_reply *r)
{
	bpi_json_free(&r->json);
	free(r->buf);
	r->buf = NULL;
}
