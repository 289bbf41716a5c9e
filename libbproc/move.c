/*
 * move.c: bproc_move, bproc_rfork, bproc_vrfork.
 *
 * The process asks the master to move it (op "move") and waits for the
 * reply. Meanwhile the master reads it with ptrace, and the node rebuilds
 * it from what was read: registers included, so the copy on the node is
 * also waiting for this reply, and the master has it see the recvmsg
 * return MOVE_RETURN, which no reply is long enough to give. The original
 * gets the real reply, a ghost token and the ghost stub as a descriptor,
 * and executes the stub: it becomes the ghost of its copy.
 */
#define _GNU_SOURCE
#include "bproc.h"
#include "move.h"
#include "call.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* localapi.MoveReturn. */
#define MOVE_RETURN 0x4250524fL

/* localapi.DefaultSocket, as bpi_dial. */
#define DEFAULT_SOCKET "/run/bproc/master.sock"

/* readn reads exactly n bytes. */
static int readn(int fd, char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, buf + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}

/* become_ghost executes the ghost stub with the token, keeping the PID and
 * fds 0-2. It returns only on failure. */
static int become_ghost(int stub, const char *token)
{
	const char *sock = getenv("BPROC_SOCKET");
	if (sock == NULL || *sock == '\0')
		sock = DEFAULT_SOCKET;
	/* The ghost shows the process's own argv in ps. */
	static char args[4096];
	char *argv[64];
	int argc = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, args, sizeof args - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		args[n] = '\0';
		for (char *p = args; p < args + n && argc < 63; p += strlen(p) + 1)
			argv[argc++] = p;
	} else {
		argv[argc++] = "bproc-moved";
	}
	argv[argc] = NULL;
	char envsock[256], envtok[128], path[64];
	snprintf(envsock, sizeof envsock, "BPROC_GHOST_SOCK=%s", sock);
	snprintf(envtok, sizeof envtok, "BPROC_GHOST_TOKEN=%s", token);
	snprintf(path, sizeof path, "/proc/self/fd/%d", stub);
	char *envp[] = {envsock, envtok, NULL};
	execve(path, argv, envp);
	return -1;
}

int bproc_move(int node)
{
	node = bpi_node(node);
	if (node < 0 && node != BPROC_NODE_MASTER)
		return -1;
	if (node == bproc_currnode()) {
		errno = BE_SAMENODE;
		return -1;
	}
	int fd = bpi_dial();
	if (fd < 0)
		return -1;
	char req[64];
	snprintf(req, sizeof req, "{\"op\":\"move\",\"node\":%d}", node);
	if (bpi_send(fd, req) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}

	unsigned char hdr[4];
	struct iovec iov = {.iov_base = hdr, .iov_len = sizeof hdr};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	long r;
	do
		r = syscall(SYS_recvmsg, fd, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r == MOVE_RETURN)
		return 0; /* the copy, on the node: fd is not here */

	int stub = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&stub, CMSG_DATA(c), sizeof stub);
	int err = 0;
	struct bpi_reply rep = {0};
	if (r < 0) {
		err = errno;
	} else if (r == 0) {
		err = ECONNRESET;
	} else {
		if (r < 4 && readn(fd, (char *)hdr + r, 4 - (size_t)r) < 0)
			err = errno;
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (err == 0 && n > 4096)
			err = EPROTO;
		if (err == 0) {
			rep.buf = malloc(n + 1);
			if (rep.buf == NULL || readn(fd, rep.buf, n) < 0 || bpi_json_parse(&rep.json, rep.buf, n) < 0 ||
			    rep.json.tok[0].type != BPI_JOBJ)
				err = errno ? errno : EPROTO;
		}
	}
	close(fd);
	char token[64] = "";
	if (err == 0) {
		int t = bpi_json_get(&rep.json, 0, "error");
		char text[256];
		if (t >= 0 && rep.json.tok[t].type == BPI_JSTR && bpi_json_str(&rep.json, t, text, sizeof text) > 0)
			err = bpi_errno(text);
		else if ((t = bpi_json_get(&rep.json, 0, "token")) < 0 || bpi_json_str(&rep.json, t, token, sizeof token) <= 0 ||
			 stub < 0)
			err = EPROTO;
	}
	if (rep.buf != NULL) {
		if (rep.json.tok != NULL)
			bpi_json_free(&rep.json);
		free(rep.buf);
	}
	if (err == 0) {
		become_ghost(stub, token);
		err = errno;
	}
	if (stub >= 0)
		close(stub);
	errno = err;
	return -1;
}

int bproc_rfork(int node)
{
	/* The child tells the parent why it could not move through the pipe;
	 * a child that became the ghost closed it (close-on-exec) instead. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (bproc_move(node) == 0)
			return 0; /* on the node; the pipe stayed behind */
		int e = errno;
		ssize_t w = write(p[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(p[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof e) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return -1;
	}
	return pid;
}

int bproc_vrfork(int n, const int *nodes, int *pids)
{
	if (n < 0 || (n > 0 && (nodes == NULL || pids == NULL))) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int pid = bproc_rfork(nodes[i]);
		if (pid == 0)
			return i;
		pids[i] = pid > 0 ? pid : -errno;
	}
	return n;
}
