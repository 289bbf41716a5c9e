/*
 * spacefloor: the floor of issue 15's process space on this machine. It
 * runs a command in a fresh PID and mount namespace (its PID 1 mounts a
 * /proc of its own), as a namespace node runs a remote program, and
 *
 *   none      lets it run alone;
 *   continue  runs it under the space's seccomp filter (a copy of
 *             internal/node/space_filter_amd64.go, installed as bpslave
 *             installs it), answering every notification with CONTINUE
 *             at once: the floor of the notification itself;
 *   ghost     does as continue, and for each fork first does the least
 *             that keeping the child's PID needs: it asks a process
 *             outside the namespace (the outer spacefloor, in the
 *             master's place) for a new process there (a CLONE_VM child
 *             that pauses, as the ghost stub's forkghost), writes
 *             ns_last_pid = its PID - 1 in the namespace, lets the fork
 *             go on, and before it answers the next notification waits
 *             for the child to exist at that PID (pidfd_open) and holds
 *             it; the child's exit (exit_group or exit notified) has the
 *             outer process kill the extra one.
 *   relay     does as ghost, but the outer process (the master) does
 *             not make the extra process itself: it asks a process of
 *             its own (the forking process's ghost) over a second
 *             socket, which makes it as its child and answers its PID,
 *             and passes that on: the hops bproc's design has, a ghost
 *             being its parent ghost's child, without SSH, Go or any
 *             of the master's bookkeeping.
 *
 * Nothing else of bproc (no master protocol, no /proc reads, no held
 * exits): what bproc adds beyond ghost, its design and code add.
 *
 * usage: spacefloor [-c] [-u FILE] none|continue|ghost|relay CMD [ARG...]
 *
 * -c checks each child found at its steered PID by its parent in
 * /proc/PID/stat (for tests; it costs a read per fork). -u appends to
 * FILE a line with the CPU seconds (user and system) of the whole run:
 * spacefloor itself, the namespace and all in it, the extra processes
 * (each reaped, so counted). The exit status
 * is the command's (128+N if a signal N ended it); 125 if spacefloor
 * itself failed (a notification unanswered, a fork's child not found, an
 * extra process left), with a line on stderr. At the end each side
 * writes its counts to stderr:
 *
 *   spacefloor: supervisor notifications=N fork=N exec=N wait=N exit=N
 *               other=N gone=N kept=N missed=N wrong=N
 *   spacefloor: outside made=N killed=N left=N
 *
 * gone: notifications whose caller was killed before the answer; left:
 * extra processes whose child ended without a notified exit (a kill),
 * killed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __x86_64__
#error "spacefloor: x86_64 only (its filter is space_filter_amd64.go's)"
#endif

/* Linux 6.6; Debian 12's headers are older. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* spawn.ExecTag and spawn.ExitTag: the node's own exec and failed start. */
#define EXEC_TAG 0x62707263
#define EXIT_TAG (0x62707200 | 127)

/* A failure of spacefloor itself, not of the command. */
#define FAILED 125

enum mode { NONE, CONTINUE, GHOST, RELAY };

static void die(const char *what)
{
	fprintf(stderr, "spacefloor: %s: %s\n", what, strerror(errno));
	exit(FAILED);
}

/*
 * The space's filter, instruction for instruction: notified are fork,
 * vfork, clone without CLONE_THREAD, wait4, waitid, exit_group, exit
 * (but the tagged one), execve, execveat (but the tagged one), setpgid
 * and setsid; clone3, x32 and the i386 ABI's process calls fail with
 * ENOSYS; the rest is allowed.
 */
static struct sock_filter filter[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 5, 0),
	/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
	/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 27, 0),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 190, 26, 0),
	/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 120, 25, 0),
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435, 24, 23),
	/* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
	/* 8 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 22, 0),
	/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 21, 0),
	/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fork, 18, 0),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_vfork, 17, 0),
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_wait4, 16, 0),
	/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_waitid, 15, 0),
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 14, 0),
	/* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 11, 0),
	/* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 12, 0),
	/* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setpgid, 11, 0),
	/* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setsid, 10, 0),
	/* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 3, 0),
	/* 20 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 9),
	/* 21 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),
	/* 22 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 7, 6),
	/* 23 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),
	/* 24 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EXEC_TAG, 0, 4),
	/* 25 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 20),
	/* 26 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 2),
	/* 27 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),
	/* 28 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EXIT_TAG, 1, 0),
	/* 29 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	/* 30 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 31 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
};

/*
 * pauser makes a process that shares this address space and pauses
 * until it is killed, and returns its PID (or -errno). The child runs on
 * the caller's stack pointer and so must not touch the stack: it only
 * makes system calls (the syscall instruction uses no stack, and no
 * handler of the outer process runs in it: it installs none). It dies
 * with the outer process (PR_SET_PDEATHSIG, then a look at its parent in
 * case that died first). parent is the caller's PID.
 */
long pauser(long parent);
__asm__(".text\n"
	".global pauser\n"
	"pauser:\n"
	"	mov %rdi, %r9\n"     /* the parent, for the child: syscall keeps r9 */
	"	mov $56, %eax\n"     /* clone */
	"	mov $0x111, %edi\n"  /* CLONE_VM | SIGCHLD */
	"	xor %esi, %esi\n"    /* the caller's stack pointer */
	"	xor %edx, %edx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov $157, %eax\n"    /* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	"	mov $1, %edi\n"
	"	mov $9, %esi\n"
	"	syscall\n"
	"	mov $110, %eax\n"    /* getppid */
	"	syscall\n"
	"	cmp %rax, %r9\n"
	"	jne 3f\n"
	"2:	mov $34, %eax\n"     /* pause */
	"	syscall\n"
	"	jmp 2b\n"
	"3:	mov $60, %eax\n"     /* exit(0) */
	"	xor %edi, %edi\n"
	"	syscall\n"
	"1:	ret\n");

static double tv(struct timeval t)
{
	return t.tv_sec + t.tv_usec / 1e6;
}

/*
 * parentghost is relay mode's process in the place of the forking
 * process's ghost: on 'f' it makes an extra process as its own child and
 * answers its PID, on 'k' PID it kills it. At the end of its socket it
 * kills what is left, reaps all and exits.
 */
static void parentghost(int s, long pidmax)
{
	unsigned char *live = calloc(pidmax + 1, 1);
	pid_t me = getpid();
	int st;

	if (!live)
		die("parentghost: calloc");
	for (;;) {
		unsigned char buf[8];
		int32_t pid;
		ssize_t n = recv(s, buf, sizeof buf, 0);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("parentghost: recv");
		}
		if (buf[0] == 'f') {
			pid = (int32_t)pauser(me);
			if (pid > 0 && pid <= pidmax)
				live[pid] = 1;
			if (send(s, &pid, sizeof pid, MSG_NOSIGNAL) != sizeof pid)
				die("parentghost: send");
		} else if (buf[0] == 'k' && n == 5) {
			memcpy(&pid, buf + 1, sizeof pid);
			if (pid > 0 && pid <= pidmax && live[pid]) {
				kill(pid, SIGKILL);
				live[pid] = 0;
			}
		}
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
	}
	for (long i = 1; i <= pidmax; i++)
		if (live[i])
			kill(i, SIGKILL);
	while (waitpid(-1, &st, 0) > 0)
		;
	_exit(0);
}

/*
 * The outer process, in the master's place: on 'f' it makes an extra
 * process (or, with relay >= 0, has parentghost make it) and answers
 * its PID; on 'k' PID it kills it. Once the namespace's init has hung
 * up it kills what is left, reaps everything and returns the exit
 * status.
 */
static int outside(int s, int relay, pid_t init, long pidmax, const char *cpufile)
{
	unsigned char *live = calloc(pidmax + 1, 1);
	long made = 0, killed = 0, left = 0, errors = 0;
	int st, initst = -1;
	pid_t p, me = getpid();

	if (!live)
		die("outside: calloc");
	for (;;) {
		unsigned char buf[8];
		int32_t pid;
		ssize_t n = recv(s, buf, sizeof buf, 0);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("outside: recv");
		}
		if (buf[0] == 'f') {
			if (relay < 0)
				pid = (int32_t)pauser(me);
			else if (send(relay, "f", 1, MSG_NOSIGNAL) != 1 ||
				 recv(relay, &pid, sizeof pid, 0) != sizeof pid)
				die("outside: relay");
			if (pid > 0 && pid <= pidmax) {
				live[pid] = 1;
				made++;
			} else {
				errno = -pid;
				fprintf(stderr, "spacefloor: outside: clone: %s\n", strerror(errno));
				errors++;
			}
			if (send(s, &pid, sizeof pid, MSG_NOSIGNAL) != sizeof pid)
				die("outside: send");
		} else if (buf[0] == 'k' && n == 5) {
			memcpy(&pid, buf + 1, sizeof pid);
			if (pid > 0 && pid <= pidmax && live[pid]) {
				if (relay < 0)
					kill(pid, SIGKILL);
				else if (send(relay, buf, 5, MSG_NOSIGNAL) != 5)
					die("outside: relay");
				live[pid] = 0;
				killed++;
			} else {
				fprintf(stderr, "spacefloor: outside: kill of %d, which it did not make\n", pid);
				errors++;
			}
		} else {
			fprintf(stderr, "spacefloor: outside: a request of %zd bytes, '%c'\n", n, buf[0]);
			errors++;
		}
		/* Zombies of the killed ones, without waiting. */
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == init)
				initst = st;
	}
	for (long i = 1; i <= pidmax; i++)
		if (live[i]) {
			if (relay < 0)
				kill(i, SIGKILL);
			left++;
		}
	if (relay >= 0)
		close(relay); /* parentghost kills its own and exits */
	while ((p = waitpid(-1, &st, 0)) > 0)
		if (p == init)
			initst = st;
	if (errno != ECHILD)
		die("outside: wait");
	if (cpufile) {
		struct rusage self, kids;
		FILE *f = fopen(cpufile, "a");

		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		if (!f)
			die(cpufile);
		fprintf(f, "%.6f\n", tv(self.ru_utime) + tv(self.ru_stime) + tv(kids.ru_utime) + tv(kids.ru_stime));
		if (fclose(f))
			die(cpufile);
	}
	if (made)
		fprintf(stderr, "spacefloor: outside made=%ld killed=%ld left=%ld\n", made, killed, left);
	if (initst == -1) {
		fprintf(stderr, "spacefloor: the namespace's init was not reaped\n");
		return FAILED;
	}
	if (WIFSIGNALED(initst)) {
		fprintf(stderr, "spacefloor: the namespace's init: signal %d\n", WTERMSIG(initst));
		return FAILED;
	}
	if (errors)
		return FAILED;
	return WEXITSTATUS(initst);
}

struct child {
	int32_t extra; /* the extra process's PID outside; 0: none */
	int pidfd;     /* the child, held */
};

/* The supervisor, a thread of the namespace's init. */
struct sup {
	enum mode mode;
	int check;
	int listener;
	int master;  /* socket to the outer process */
	int lastpid; /* /proc/sys/kernel/ns_last_pid */
	long pidmax;
	struct child *kids; /* by PID in the namespace */

	/* The fork let go whose child is not held yet. */
	int32_t pend;    /* its steered PID, 0: none */
	int32_t pendby;  /* the forking thread */

	long notifications, forks, execs, waits, exits, other, gone, kept, missed, wrong;
	int failed;
};

static void fail(struct sup *s, const char *what)
{
	fprintf(stderr, "spacefloor: supervisor: %s: %s\n", what, strerror(errno));
	s->failed = 1;
}

static void killextra(struct sup *s, int32_t pid)
{
	unsigned char buf[5] = {'k'};

	memcpy(buf + 1, &pid, sizeof pid);
	if (send(s->master, buf, sizeof buf, MSG_NOSIGNAL) != sizeof buf)
		fail(s, "ask for a kill");
}

static int ppidof(int pid)
{
	char path[64], buf[512];
	int fd, ppid = -1;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* "pid (comm) state ppid" */
	if (p && sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = -1;
	return ppid;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/*
 * hold waits for the child of the fork let go last to exist at its
 * steered PID, and holds it by a pidfd; tid made the notification now
 * being answered. If tid is the forking thread, its fork is over: a
 * child not there now never came (the fork failed or was restarted), or
 * took another PID. A second is the bound of the wait.
 */
static void hold(struct sup *s, int32_t tid)
{
	int32_t pid = s->pend;
	double deadline = 0;

	if (!pid)
		return;
	s->pend = 0;
	for (long tries = 0;; tries++) {
		int fd = syscall(SYS_pidfd_open, pid, 0);

		if (fd >= 0) {
			struct child *c = &s->kids[pid];

			if (c->extra) { /* a child gone unnoticed (killed) */
				killextra(s, c->extra);
				close(c->pidfd);
			}
			c->extra = pid;
			c->pidfd = fd;
			if (s->check && ppidof(pid) != s->pendby) {
				s->wrong++;
				return;
			}
			s->kept++;
			return;
		}
		if (errno != ESRCH) {
			fail(s, "pidfd_open");
			return;
		}
		if (tid == s->pendby || (tries % 1024 == 1023 && now() > deadline)) {
			s->missed++;
			killextra(s, pid);
			return;
		}
		if (tries == 0)
			deadline = now() + 1;
		sched_yield();
	}
}

/* fork asks for the extra process and steers the namespace's next PID. */
static void fork1(struct sup *s, int32_t tid)
{
	int32_t pid;
	char buf[16];
	int n;

	if (send(s->master, "f", 1, MSG_NOSIGNAL) != 1 || recv(s->master, &pid, sizeof pid, 0) != sizeof pid) {
		fail(s, "ask for an extra process");
		return;
	}
	if (pid <= 0 || pid > s->pidmax) {
		errno = EINVAL;
		fail(s, "the extra process's PID");
		return;
	}
	n = snprintf(buf, sizeof buf, "%d", pid - 1);
	if (pwrite(s->lastpid, buf, n, 0) != n) {
		fail(s, "write ns_last_pid");
		killextra(s, pid);
		return;
	}
	s->pend = pid;
	s->pendby = tid;
}

/* end: the thread tid ends; its extra process goes with it. */
static void end(struct sup *s, int32_t tid)
{
	struct child *c = &s->kids[tid];

	if (!c->extra)
		return;
	killextra(s, c->extra);
	close(c->pidfd);
	c->extra = 0;
}

static void *supervise(void *arg)
{
	struct sup *s = arg;
	struct seccomp_notif n;
	struct seccomp_notif_resp r;

	/* The notifying task hands its CPU to this thread, as bpslave's. */
	if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		fprintf(stderr, "spacefloor: supervisor: no SYNC_WAKE_UP: %s\n", strerror(errno));
	for (;;) {
		memset(&n, 0, sizeof n);
		if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOENT) {
				/* The caller was killed, or the whole tree is gone. */
				struct pollfd p = {s->listener, POLLIN, 0};

				if (poll(&p, 1, 0) > 0 && !(p.revents & POLLIN))
					break;
				continue;
			}
			fail(s, "NOTIF_RECV");
			break;
		}
		s->notifications++;
		if (s->mode >= GHOST)
			hold(s, n.pid);
		int isfork = 0;
		switch (n.data.nr) {
		case SYS_fork:
		case SYS_vfork:
		case SYS_clone:
			s->forks++;
			isfork = 1;
			if (s->mode >= GHOST)
				fork1(s, n.pid);
			break;
		case SYS_execve:
		case SYS_execveat:
			s->execs++;
			break;
		case SYS_wait4:
		case SYS_waitid:
			s->waits++;
			break;
		case SYS_exit:
		case SYS_exit_group:
			s->exits++;
			if (s->mode >= GHOST)
				end(s, n.pid);
			break;
		default:
			s->other++;
		}
		memset(&r, 0, sizeof r);
		r.id = n.id;
		r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0) {
			if (errno != ENOENT) {
				fail(s, "NOTIF_SEND");
				break;
			}
			s->gone++; /* killed meanwhile */
			if (isfork && s->pend) {
				killextra(s, s->pend);
				s->pend = 0;
			}
		}
	}
	if (s->pend)
		hold(s, s->pendby); /* the tree is gone: nothing to wait for */
	return NULL;
}

/* sendfd and recvfd pass the listener from the command to init. */
static void sendfd(int s, int fd)
{
	char c = 0;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {&c, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	if (sendmsg(s, &m, 0) != 1)
		die("send the listener");
}

static int recvfd(int s)
{
	char c;
	int fd;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {&c, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
	struct cmsghdr *h;

	if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != 1 || !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(h), sizeof fd);
	return fd;
}

/*
 * command starts argv as the namespace's PID 2, under the filter unless
 * mode is NONE, and returns its PID and (through listener) the filter's
 * listener.
 */
static pid_t command(enum mode mode, char **argv, int *listener)
{
	int sp[2];
	pid_t c;

	if (mode != NONE && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair");
	if ((c = fork()) < 0)
		die("fork");
	if (c == 0) {
		if (mode != NONE) {
			struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
			int l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);

			if (l < 0)
				die("seccomp");
			sendfd(sp[1], l);
			close(l);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "spacefloor: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (mode != NONE) {
		close(sp[1]);
		*listener = recvfd(sp[0]);
		close(sp[0]);
	}
	return c;
}

/* init is the namespace's PID 1: it runs the command and reaps all. */
static int init(enum mode mode, int check, int master, long pidmax, char **argv)
{
	struct sup s = {.mode = mode, .check = check, .master = master, .pidmax = pidmax, .lastpid = -1};
	pthread_t t;
	int st, cst = -1, listener = -1;
	pid_t c, p;

	/*
	 * A session of its own, as a node's remote process has: with
	 * autogroup scheduling (sched_autogroup_enabled) a session is a
	 * group the scheduler shares the CPUs among, so the loop gets the
	 * share a node's would.
	 */
	if (setsid() < 0)
		die("setsid");
	/* Like unshare --mount-proc: a /proc of this namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount /proc");
	if (mode >= GHOST) {
		if ((s.lastpid = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC)) < 0)
			die("open ns_last_pid");
		if (!(s.kids = calloc(pidmax + 1, sizeof *s.kids)))
			die("calloc");
	}
	c = command(mode, argv, &listener);
	if (mode != NONE) {
		if (listener < 0) {
			waitpid(c, &st, 0);
			fprintf(stderr, "spacefloor: no listener from the command\n");
			return FAILED;
		}
		s.listener = listener;
		if ((errno = pthread_create(&t, NULL, supervise, &s)))
			die("pthread_create");
	}
	while ((p = wait(&st)) > 0)
		if (p == c)
			cst = st;
	if (errno != ECHILD)
		die("wait");
	if (mode != NONE) {
		struct timespec ts;

		/* Every process of the tree is gone: NOTIF_RECV returns. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if ((errno = pthread_timedjoin_np(t, NULL, &ts))) {
			fprintf(stderr, "spacefloor: the supervisor did not end: %s\n", strerror(errno));
			return FAILED;
		}
		fprintf(stderr, "spacefloor: supervisor notifications=%ld fork=%ld exec=%ld wait=%ld exit=%ld "
			"other=%ld gone=%ld kept=%ld missed=%ld wrong=%ld\n",
			s.notifications, s.forks, s.execs, s.waits, s.exits, s.other, s.gone, s.kept, s.missed, s.wrong);
		if (s.failed || s.missed || s.wrong)
			return FAILED;
	}
	if (WIFSIGNALED(cst))
		return 128 + WTERMSIG(cst);
	return WEXITSTATUS(cst);
}

static long readpidmax(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long v = 0;

	if (!f || fscanf(f, "%ld", &v) != 1 || v < 2)
		die("read pid_max");
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	int check = 0, ms[2];
	const char *cpufile = NULL;
	enum mode mode;
	long pidmax = readpidmax();
	pid_t in;

	for (;;) {
		if (argc > 1 && !strcmp(argv[1], "-c")) {
			check = 1;
			argc--, argv++;
		} else if (argc > 2 && !strcmp(argv[1], "-u")) {
			cpufile = argv[2];
			argc -= 2, argv += 2;
		} else
			break;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: spacefloor [-c] [-u FILE] none|continue|ghost|relay CMD [ARG...]\n");
		return 2;
	}
	if (!strcmp(argv[1], "none"))
		mode = NONE;
	else if (!strcmp(argv[1], "continue"))
		mode = CONTINUE;
	else if (!strcmp(argv[1], "ghost"))
		mode = GHOST;
	else if (!strcmp(argv[1], "relay"))
		mode = RELAY;
	else {
		fprintf(stderr, "spacefloor: unknown mode %s (none, continue, ghost or relay)\n", argv[1]);
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ms) < 0)
		die("socketpair");
	/* A fork into new PID and mount namespaces: the child is their init. */
	in = syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	if (in < 0)
		die("clone a PID namespace");
	if (in == 0) {
		close(ms[0]);
		/* The namespace, and all in it, ends with the outer process. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char c;
		if (recv(ms[1], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			_exit(FAILED); /* it died before the prctl */
		exit(init(mode, check, ms[1], pidmax, argv + 2));
	}
	close(ms[1]);
	if (mode == RELAY) {
		int gs[2];
		pid_t g;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, gs) < 0)
			die("socketpair");
		if ((g = fork()) < 0)
			die("fork the parent ghost");
		if (g == 0) {
			close(ms[0]);
			close(gs[0]);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			parentghost(gs[1], pidmax);
		}
		close(gs[1]);
		return outside(ms[0], gs[0], in, pidmax, cpufile);
	}
	return outside(ms[0], -1, in, pidmax, cpufile);
}
