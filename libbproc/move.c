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

/* localapi.MoveReturn, localapi.VRforkReturn, localapi.MaxVRfork. */
#define MOVE_RETURN 0x4250524fL
#define VRFORK_RETURN 0x42560000L
#define VRFORK_MAX 4096

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
 * fds 0-2; ps shows argv, or the process's own when NULL. It returns only
 * on failure. */
static int become_ghost(int stub, const char *token, char *const *argv)
{
	const char *sock = bpi_socket_path();
	static char args[4096];
	char *own[64];
	if (argv == NULL) {
		int argc = 0;
		int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, args, sizeof args - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			args[n] = '\0';
			for (char *p = args; p < args + n && argc < 63; p += strlen(p) + 1)
				own[argc++] = p;
		} else {
			own[argc++] = "bproc-moved";
		}
		own[argc] = NULL;
		argv = own;
	}
	char envsock[256], envtok[128], path[64];
	snprintf(envsock, sizeof envsock, "BPROC_GHOST_SOCK=%s", sock);
	snprintf(envtok, sizeof envtok, "BPROC_GHOST_TOKEN=%s", token);
	snprintf(path, sizeof path, "/proc/self/fd/%d", stub);
	char *envp[] = {envsock, envtok, NULL};
	execve(path, (char *const *)argv, envp);
	return -1;
}

/* stub_reply is room for a reply's first bytes and the ghost stub's
 * descriptor that comes with them. */
struct stub_reply {
	unsigned char hdr[4];
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg;
};

static void stub_reply_init(struct stub_reply *sr)
{
	memset(sr, 0, sizeof *sr);
	sr->iov.iov_base = sr->hdr;
	sr->iov.iov_len = sizeof sr->hdr;
	sr->msg.msg_iov = &sr->iov;
	sr->msg.msg_iovlen = 1;
	sr->msg.msg_control = sr->ctl.buf;
	sr->msg.msg_controllen = sizeof sr->ctl.buf;
}

/* finish_reply completes a reply whose first recvmsg returned r bytes into
 * hdr (4 bytes at most) with msg's control data: it takes the ghost stub
 * from it, reads the rest of the frame and parses it. 0, or -1 and errno
 * (the master's error text mapped, as bpi_recv does). */
static int finish_reply(int fd, unsigned char *hdr, long r, struct msghdr *msg, struct bpi_reply *rep, int *stub)
{
	*stub = -1;
	memset(rep, 0, sizeof *rep);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(stub, CMSG_DATA(c), sizeof *stub);
	int err = 0;
	if (r < 0)
		err = errno;
	else if (r == 0)
		err = ECONNRESET;
	else if (r < 4 && readn(fd, (char *)hdr + r, 4 - (size_t)r) < 0)
		err = errno;
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (err == 0 && n > BPI_MAXFRAME)
		err = EPROTO;
	if (err == 0) {
		rep->buf = malloc(n + 1);
		if (rep->buf == NULL)
			err = ENOMEM;
		else if (readn(fd, rep->buf, n) < 0)
			err = errno;
		else if (bpi_json_parse(&rep->json, rep->buf, n) < 0 || rep->json.tok[0].type != BPI_JOBJ)
			err = EPROTO;
	}
	if (err == 0) {
		int t = bpi_json_get(&rep->json, 0, "error");
		char text[BPI_ERRTEXT];
		if (t >= 0 && rep->json.tok[t].type == BPI_JSTR && bpi_json_str(&rep->json, t, text, sizeof text) > 0)
			err = bpi_errno(&rep->json, 0, text);
	}
	if (err == 0 && *stub < 0)
		err = EPROTO;
	if (err != 0) {
		if (rep->buf != NULL) {
			if (rep->json.tok != NULL)
				bpi_json_free(&rep->json);
			free(rep->buf);
			rep->buf = NULL;
		}
		if (*stub >= 0)
			close(*stub);
		*stub = -1;
		errno = err;
		return -1;
	}
	return 0;
}

int bproc_move(int node)
{
	node = bpi_node(node);
	if (node < 0 && node != BPROC_NODE_MASTER)
		return -1;
	/* The master says BE_SAMENODE: it knows where the caller is, which
	 * $BPROC_NODE no longer says once the process has moved. */
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

	struct stub_reply sr;
	stub_reply_init(&sr);
	long r;
	do
		r = syscall(SYS_recvmsg, fd, &sr.msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r == MOVE_RETURN)
		return 0; /* the copy, on the node: fd is not here */

	struct bpi_reply rep;
	int stub;
	int ret = finish_reply(fd, sr.hdr, r, &sr.msg, &rep, &stub);
	int err = errno;
	close(fd);
	if (ret < 0) {
		errno = err;
		return -1;
	}
	char token[64] = "";
	int t = bpi_json_get(&rep.json, 0, "token");
	if (t < 0 || bpi_json_str(&rep.json, t, token, sizeof token) <= 0)
		err = EPROTO;
	bpi_reply_free(&rep);
	if (token[0] != '\0') {
		become_ghost(stub, token, NULL);
		err = errno;
	}
	close(stub);
	errno = err;
	return -1;
}

/* A child that is to become something else (moved, or a remote program)
 * tells its parent why it could not through a close-on-exec pipe; one that
 * made it closed the pipe by executing the ghost stub, or is on a node
 * where the pipe never went. */

/* fork_reporting forks: the parent gets the PID and the pipe's read end in
 * *fd, the child 0 and the write end. -1 and errno when it cannot. */
static pid_t fork_reporting(int *fd)
{
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
	close(pid == 0 ? p[0] : p[1]);
	*fd = pid == 0 ? p[1] : p[0];
	return pid;
}

/* child_failed reports errno to the parent and ends the child. */
static void child_failed(int fd)
{
	int e = errno;
	ssize_t w = write(fd, &e, sizeof e);
	(void)w;
	_exit(127);
}

/* child_report waits for the child's word: 0 when it became what it was
 * to become, else the errno it failed with (the child is reaped then). */
static int child_report(pid_t pid, int fd)
{
	int e = 0;
	ssize_t n;
	do
		n = read(fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n != (ssize_t)sizeof e)
		return 0;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return e;
}

int bproc_rfork(int node)
{
	int fd;
	pid_t pid = fork_reporting(&fd);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (bproc_move(node) == 0)
			return 0; /* on the node */
		child_failed(fd);
	}
	int e = child_report(pid, fd);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return pid;
}

/* vrfork_each forks a child per node that moves itself: the master reads
 * each. What a process on a node does (the master takes bproc_vrfork
 * only from the master's processes). */
static int vrfork_each(int n, const int *nodes, int *pids)
{
	/* Every child moves at once: the master reads and sends them side by
	 * side. */
	int *fds = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	if (fds == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		fds[i] = -1;
		pid_t pid = fork_reporting(&fds[i]);
		if (pid == 0) {
			for (int k = 0; k < i; k++)
				if (fds[k] >= 0)
					close(fds[k]);
			if (bproc_move(nodes[i]) == 0)
				return i; /* on nodes[i] */
			child_failed(fds[i]);
		}
		pids[i] = pid < 0 ? -errno : pid;
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			int e = child_report(pids[i], fds[i]);
			if (e != 0)
				pids[i] = -e;
		}
	free(fds);
	return n;
}

/* vrfork_child waits on sock for its token and the ghost stub, and
 * becomes the ghost of its copy; a socket closed without them means it got
 * no copy: it ends. */
static void vrfork_child(int sock)
{
	char token[128];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {token, sizeof token - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	ssize_t r;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	int stub = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); r > 0 && c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&stub, CMSG_DATA(c), sizeof stub);
	if (r > 0 && stub >= 0) {
		token[r] = '\0';
		become_ghost(stub, token, NULL);
	}
	_exit(127);
}

/* give_token hands child sock its token and the ghost stub. */
static int give_token(int sock, const char *token, int stub)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = {(void *)token, strlen(token)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &stub, sizeof stub);
	ssize_t w;
	do
		w = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -1 : 0;
}

/* bproc_vrfork forks a child per node, each waiting to become the ghost of
 * its copy, and asks the master once ("vrfork"): the master reads this
 * process once and each node rebuilds it with its child's PID, fetching
 * the image from each other rather than each from the master. The copy
 * for child i sees the master's answer come back as VRFORK_RETURN + i. */
int bproc_vrfork(int n, const int *nodes, int *pids)
{
	if (n < 0 || n > VRFORK_MAX || (n > 0 && (nodes == NULL || pids == NULL))) {
		errno = EINVAL;
		return -1;
	}
	if (n == 0)
		return 0;
	int *socks = malloc(sizeof(int) * (size_t)n);
	char *req = malloc(64 + (size_t)n * 24);
	if (socks == NULL || req == NULL) {
		free(socks);
		free(req);
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		socks[i] = -1;
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
			pids[i] = -errno;
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(sp[0]);
			for (int k = 0; k < i; k++)
				if (socks[k] >= 0)
					close(socks[k]);
			vrfork_child(sp[1]);
		}
		close(sp[1]);
		if (pid < 0) {
			pids[i] = -errno;
			close(sp[0]);
			continue;
		}
		socks[i] = sp[0];
		pids[i] = pid;
	}
	size_t off = (size_t)sprintf(req, "{\"op\":\"vrfork\",\"vrfork\":{\"nodes\":[");
	for (int i = 0; i < n; i++)
		off += (size_t)sprintf(req + off, "%s%d", i ? "," : "", nodes[i]);
	off += (size_t)sprintf(req + off, "],\"pids\":[");
	for (int i = 0; i < n; i++)
		off += (size_t)sprintf(req + off, "%s%d", i ? "," : "", pids[i] > 0 ? pids[i] : 0);
	sprintf(req + off, "]}}");

	int err = 0, stub = -1, fallback = 0;
	struct bpi_reply rep = {0};
	int fd = bpi_dial();
	if (fd < 0 || bpi_send(fd, req) < 0)
		err = errno;
	free(req);
	if (err == 0) {
		struct stub_reply sr;
		stub_reply_init(&sr);
		long r;
		do
			r = syscall(SYS_recvmsg, fd, &sr.msg, MSG_CMSG_CLOEXEC);
		while (r < 0 && errno == EINTR);
		if (r >= VRFORK_RETURN && r < VRFORK_RETURN + n)
			return (int)(r - VRFORK_RETURN); /* a copy, on its node */
		if (finish_reply(fd, sr.hdr, r, &sr.msg, &rep, &stub) < 0) {
			err = errno;
			/* A process on a node, or a master older than this. */
			fallback = err == ENOSYS || err == EINVAL;
		}
	}
	if (fd >= 0)
		close(fd);
	int t = err == 0 ? bpi_json_get(&rep.json, 0, "ranks") : -1;
	int k = t >= 0 ? bpi_json_first(&rep.json, t) : -1;
	for (int i = 0; i < n; i++, k = k >= 0 ? bpi_json_next(&rep.json, t, k) : -1) {
		if (socks[i] < 0)
			continue;
		int e = err ? err : EPROTO;
		char token[128] = "", text[BPI_ERRTEXT];
		if (k >= 0) {
			int et = bpi_json_get(&rep.json, k, "error");
			int tt = bpi_json_get(&rep.json, k, "token");
			if (et >= 0 && bpi_json_str(&rep.json, et, text, sizeof text) > 0)
				e = bpi_errno(&rep.json, k, text);
			else if (tt >= 0 && bpi_json_str(&rep.json, tt, token, sizeof token) > 0 && give_token(socks[i], token, stub) == 0)
				e = 0;
		}
		close(socks[i]); /* a child given no token ends */
		if (e != 0) {
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
			pids[i] = -e;
		}
	}
	if (rep.buf != NULL)
		bpi_reply_free(&rep);
	if (stub >= 0)
		close(stub);
	free(socks);
	if (fallback)
		return vrfork_each(n, nodes, pids);
	return n;
}

/* jbuf is a request being written. */
struct jbuf {
	char *p;
	size_t n, cap;
	int err;
};

static void jput(struct jbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
		if (cap > BPI_MAXFRAME) {
			b->err = E2BIG;
			return;
		}
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->err = ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void jraw(struct jbuf *b, const char *s) { jput(b, s, strlen(s)); }

/* jstr writes s as a JSON string. */
static void jstr(struct jbuf *b, const char *s)
{
	jraw(b, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char e[8];
		if (*c == '"' || *c == '\\') {
			e[0] = '\\', e[1] = (char)*c, e[2] = 0;
			jraw(b, e);
		} else if (*c < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", *c);
			jraw(b, e);
		} else {
			jput(b, (const char *)c, 1);
		}
	}
	jraw(b, "\"");
}

static void jstrs(struct jbuf *b, char *const *v)
{
	jraw(b, "[");
	for (int i = 0; v != NULL && v[i] != NULL; i++) {
		if (i > 0)
			jraw(b, ",");
		jstr(b, v[i]);
	}
	jraw(b, "]");
}

int bproc_rexec(int node, const char *cmd, char *const argv[], char *const envp[])
{
	node = bpi_node(node);
	if (node < 0 && node != BPROC_NODE_MASTER)
		return -1;
	if (cmd == NULL || argv == NULL || argv[0] == NULL) {
		errno = EINVAL;
		return -1;
	}
	char cwd[4096];
	if (getcwd(cwd, sizeof cwd) == NULL)
		strcpy(cwd, "/");
	char path[8192];
	if (cmd[0] == '/')
		snprintf(path, sizeof path, "%s", cmd);
	else
		snprintf(path, sizeof path, "%s/%s", cwd, cmd);
	if (access(path, F_OK) < 0)
		return -1; /* ENOENT, as execve would say */

	struct jbuf b = {0};
	char num[32];
	snprintf(num, sizeof num, "%d", node);
	jraw(&b, "{\"op\":\"run\",\"run\":{\"nodes\":[");
	jraw(&b, num);
	jraw(&b, "],\"path\":");
	jstr(&b, path);
	jraw(&b, ",\"argv\":");
	jstrs(&b, argv);
	jraw(&b, ",\"env\":");
	jstrs(&b, envp);
	jraw(&b, ",\"dir\":");
	jstr(&b, cwd);
	jraw(&b, ",\"stub\":true}}");
	if (b.err) {
		free(b.p);
		errno = b.err;
		return -1;
	}
	int fd = bpi_dial();
	if (fd < 0) {
		free(b.p);
		return -1;
	}
	jput(&b, "", 0); /* room for the NUL */
	int err = b.err;
	if (err == 0) {
		b.p[b.n] = '\0';
		if (bpi_send(fd, b.p) < 0)
			err = errno;
	}
	free(b.p);
	if (err != 0) {
		close(fd);
		errno = err;
		return -1;
	}

	struct stub_reply sr;
	stub_reply_init(&sr);
	ssize_t r;
	do
		r = recvmsg(fd, &sr.msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	struct bpi_reply rep;
	int stub;
	int ret = finish_reply(fd, sr.hdr, r, &sr.msg, &rep, &stub);
	err = errno;
	close(fd);
	if (ret < 0) {
		errno = err;
		return -1;
	}
	/* {"ranks":[{"node":N,"token":"..."}]} or the rank's error. */
	char token[64] = "", text[BPI_ERRTEXT];
	err = EPROTO;
	int t = bpi_json_get(&rep.json, 0, "ranks");
	if (t >= 0 && rep.json.tok[t].type == BPI_JARR && (t = bpi_json_first(&rep.json, t)) >= 0) {
		int e = bpi_json_get(&rep.json, t, "error");
		int k = bpi_json_get(&rep.json, t, "token");
		if (e >= 0 && bpi_json_str(&rep.json, e, text, sizeof text) > 0)
			err = bpi_errno(&rep.json, t, text);
		else if (k >= 0 && bpi_json_str(&rep.json, k, token, sizeof token) > 0)
			err = 0;
	}
	bpi_reply_free(&rep);
	if (err == 0) {
		become_ghost(stub, token, argv);
		err = errno;
	}
	close(stub);
	errno = err;
	return -1;
}

int bproc_execmove(int node, const char *cmd, char *const argv[], char *const envp[])
{
	return bproc_rexec(node, cmd, argv, envp);
}

int bproc_vexecmove(int n, const int *nodes, int *pids, const char *cmd, char *const argv[], char *const envp[])
{
	if (n < 0 || (n > 0 && (nodes == NULL || pids == NULL))) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int fd;
		pid_t pid = fork_reporting(&fd);
		if (pid == 0) {
			bproc_execmove(nodes[i], cmd, argv, envp);
			child_failed(fd);
		}
		if (pid < 0) {
			pids[i] = -errno;
			continue;
		}
		int e = child_report(pid, fd);
		pids[i] = e != 0 ? -e : pid;
	}
	return n;
}
