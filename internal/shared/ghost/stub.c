//go:build ignore

// (The line above keeps the go command from treating this as cgo.)

/*
 * stub.c: the bproc ghost, a stand-in on the master for a process that
 * runs on a compute node. See doc.go for the design and the wire format.
 *
 * It is libc-free (raw x86_64 syscalls) so that a thousand of them cost
 * a few pages each; one of them must never cost more than a page or two
 * of its own. Build with go generate (see start_linux_amd64.go).
 *
 * Rules: no allocation, no globals written (so no data or bss pages),
 * every buffer on the stack, EINTR retried everywhere (all signals are
 * blocked, so EINTR can only come from a ptrace stop, but be safe).
 */

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

extern char __executable_start[]; /* the linker's: where the ELF header is mapped */

#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_poll 7
#define SYS_mmap 9
#define SYS_mprotect 10
#define SYS_munmap 11
#define SYS_rt_sigaction 13
#define SYS_rt_sigprocmask 14
#define SYS_getpid 39
#define SYS_socket 41
#define SYS_connect 42
#define SYS_sendmsg 46
#define SYS_recvmsg 47
#define SYS_socketpair 53
#define SYS_clone 56
#define SYS_execve 59
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_fcntl 72
#define SYS_setpgid 109
#define SYS_setsid 112
#define SYS_rt_sigpending 127
#define SYS_prctl 157
#define SYS_exit_group 231
#define SYS_signalfd4 289
#define SYS_dup3 292
#define SYS_close_range 436

#define EINTR 4
#define EAGAIN 11
#define ENOMEM 12
#define EINVAL 22
#define EISCONN 106

#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGKILL 9
#define SIGUSR1 10
#define SIGUSR2 12
#define SIGTERM 15
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22

#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_CLOEXEC 0x80000
#define SFD_CLOEXEC 0x80000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define SI_KERNEL 0x80
#define MSG_NOSIGNAL 0x4000
#define MSG_DONTWAIT 0x40
#define MSG_TRUNC 0x20
#define MSG_CTRUNC 0x8
#define MSG_CMSG_CLOEXEC 0x40000000
#define F_GETFD 1
#define F_SETFD 2
#define FD_CLOEXEC 1
#define F_DUPFD_CLOEXEC 1030
#define POLLIN 1
#define POLLHUP 0x10
#define WNOHANG 1
#define WUNTRACED 2
#define WALL 0x40000000
#define PR_SET_DUMPABLE 4
#define PR_SET_NAME 15
#define PR_SET_MM 35
#define PR_SET_MM_MAP 14
#define PROT_NONE 0
#define PROT_RW 3
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define MAP_NORESERVE 0x4000
#define MAP_FIXED_NOREPLACE 0x100000
#define PAGE 4096UL
#define CLONE_VM 0x100
#define CLONE_PARENT 0x8000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000

/* Wire format: keep in step with wire.go. */
#define CMD_EXIT 1
#define CMD_SIGNAL 2
#define CMD_FORK 3
#define CMD_EXEC 4
#define CMD_SETPGID 5
#define CMD_SETSID 6
#define CMD_WHERE 7 /* arg node; then u32 node PID, u32 grace seconds */
#define CMD_OUT 8   /* arg stream (1, 2); then u64 bytes written to it; stream 0: u64 stdin's file offset */
#define CMD_DATA 9  /* arg stream << 24 | n; then n bytes to write to stream (1, 2) */
#define DATA_MAX 65536 /* bytes of a CMD_DATA (wire_data.go's DataMax) */
#define CMD_KEEP 10 /* arg n; then u64 the node's offset of n bytes of stdin that follow, kept until acknowledged */
#define KEEP_MAX (512 << 10) /* stdin kept (wire_keep.go's KeepMax) */
#define IN_ACK 3    /* CMD_OUT stream: the node's count of stdin written, what is kept before it goes */
#define EXEC_MAX 4096 /* bytes of a CMD_EXEC argv (wire.go's MaxExecArgv) */
#define EXEC_ARGS 256 /* args of a CMD_EXEC argv (wire.go's MaxExecArgs) */
#define EXEC_ENV 512  /* room for the four variables of a resumed ghost */
#define EXEC_BUF 8192 /* argv, environment and their pointers */
#define EVENT_SIGNAL 1
#define EVENT_CHILD_STOPPED 2
#define EVENT_WROTE 3 /* arg: stream << 24 | bytes of a CMD_DATA done with */
#define EVENT_FORKED 4 /* arg: the PID of the child ghost a CMD_FORK made (0: none), its connection's other end with it */
#define FORK_ASK 1      /* CMD_FORK's arg: say FORKED_DRAINS */
#define FORK_SHORT 2    /* CMD_FORK's arg: no token follows */
#define FORKED_DRAINS (1U << 31) /* EVENT_FORKED's arg: this ghost and its child read their socket dry before they take the master for gone */
#define VERSION 1
#define RESUME_VERSION 2 /* 1: 40 bytes, no flags, no stdin offset */
#define HAVE_IN 1        /* where.flags, rhello.flags: in is known */

/* Group wire format (a template's control socket): keep in step with group.go. */
#define GROUP_FD 4
#define REQ_START 1
#define REQ_TOKEN 2 /* a prestarted template's token (Group.Prestart) */
#define REQ_SETPGID 1
#define REQ_FORWARDED 2
#define REPLY_CLONED 1
#define REPLY_RUNNING 2
#define REPLY_FAILED 3

/*
 * A sibling's stack is one SLICE of an arena the template reserves on its
 * first request. 1 kB: the sibling's deepest path (sibling, ghost, relay,
 * reconnect, dial, sendall, sys6: a hello to the next master) takes 832
 * bytes by gcc -fstack-usage -fcallgraph-info=su, 8 bytes of return
 * address counted for each; with the spec at the slice's top (64) and the
 * pid word at its base (4), 124 bytes are left (relay reads signals in
 * nextsig, so that their 128 bytes are off the stack as it reconnects:
 * they left 0). TestSiblingStack measures the paths it
 * drives (560 bytes). Nothing else
 * uses a ghost's stack: it has no signal handlers, so the kernel never
 * puts a signal frame there. There is no guard page between slices, so
 * that margin is what keeps one ghost's stack out of its neighbour's.
 */
#define SLICE 1024
#define ARENA_SLOTS 65536 /* 64 MB of address space, PROT_NONE until used */
#define GROW_SLOTS 256    /* made writable 256 kB at a time */

static __attribute__((noinline)) long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* The kernel's struct sigaction on x86_64 (not libc's). */
struct ksigaction {
	void *handler;
	u64 flags;
	void *restorer;
	u64 mask;
};

struct iovec {
	void *base;
	u64 len;
};

struct msghdr {
	void *name;
	u32 namelen;
	struct iovec *iov;
	u64 iovlen;
	void *control;
	u64 controllen;
	int flags;
};

struct sockaddr_un {
	u16 family;
	char path[108];
};

struct pollfd {
	int fd;
	short events;
	short revents;
};

struct hello {
	char magic[4];
	u32 fdmask;
	u8 token[16];
	u32 version;
	u32 reserved;
};

/*
 * where is what a ghost knows of its process for a master that has not
 * met it: its node, its PID there, and how many bytes of stdout and
 * stderr the master has written to the ghost's fds (CMD_WHERE, CMD_OUT).
 * grace is how long the ghost waits for a master when its own is gone;
 * 0 (never told: the process never started) ends it at once, as before.
 */
struct where {
	u32 node;
	u32 nodepid;
	u32 grace; /* seconds */
	u32 flags; /* HAVE_IN; bit 1 << stream: that stream's fd failed (EPIPE) */
	u64 out[2];
	u64 in; /* the offset of stdin's file where the node's count of it starts */
	/*
	 * Stdin the master sent its node and the node has not acknowledged
	 * (CMD_KEEP): mapped while there is some, a struct kept then the
	 * ring of KEEP_MAX bytes.
	 */
	struct kept *kept;
};

struct kept {
	u64 base; /* the node's offset of the first byte kept */
	u32 head; /* where it is in the ring */
	u32 len;
};

/* The hello of a ghost whose master is gone, to the next one (64 bytes; keptlen bytes of stdin follow). */
struct rhello {
	char magic[4];
	u32 fdmask;
	u32 version;
	u32 node;
	u32 nodepid;
	u32 flags; /* HAVE_IN */
	u64 out[2];
	u64 in;
	u64 keptbase;
	u32 keptlen;
	u32 reserved;
};

/* signalfd_siginfo is 128 bytes; signo and code matter here. */
struct sfd_info {
	u32 signo;
	int err;
	int code; /* > 0: sent by the kernel (CLD_EXITED...), <= 0: by a process */
	u8 rest[116];
};

/* The compiler may emit calls to these for struct initialisation. */
void *memset(void *d, int c, u64 n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, u64 n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static __attribute__((noreturn)) void exit_group(int code)
{
	for (;;)
		sys1(SYS_exit_group, code);
}

static u64 sigbit(u32 sig)
{
	return 1UL << (sig - 1);
}

static void setmask(int how, u64 set)
{
	sys4(SYS_rt_sigprocmask, how, &set, 0, 8);
}

static void sigdefault(u32 sig)
{
	struct ksigaction sa = {0};
	sys4(SYS_rt_sigaction, sig, &sa, 0, 8);
}

/*
 * die ends the ghost as if by signal sig, so that wait() in its parent
 * sees the remote process's death. Not dumpable: the remote process may
 * have dumped core; the ghost must not add a core file of its own.
 */
static __attribute__((noreturn)) void die(u32 sig)
{
	sys2(SYS_prctl, PR_SET_DUMPABLE, 0);
	if (sig >= 1 && sig <= 64) {
		sigdefault(sig);
		setmask(SIG_UNBLOCK, sigbit(sig));
		sys2(SYS_kill, sys1(SYS_getpid, 0), sig);
	}
	/* Still here: the signal's default action is to ignore it. */
	exit_group(128 + (int)sig);
}

static u64 slen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

/* cat appends s to the line being built in b[*n], never past cap. */
static void cat(char *b, u64 *n, u64 cap, const char *s)
{
	while (*s && *n < cap)
		b[(*n)++] = *s++;
}

static void catnum(char *b, u64 *n, u64 cap, long v)
{
	char d[24];
	int i = sizeof d;
	u64 u = v < 0 ? -(u64)v : (u64)v;
	d[--i] = 0;
	do
		d[--i] = (char)('0' + u % 10);
	while ((u /= 10) && i > 1);
	if (v < 0)
		d[--i] = '-';
	cat(b, n, cap, d + i);
}

/*
 * fail writes "bproc ghost: <what><arg>[: errno N]\n" to fd 2 and exits
 * 255. The longest message (connect, a 107-byte path, an errno) fits in
 * 160 bytes; a sibling's whole stack is a kilobyte.
 */
static __attribute__((noreturn)) void fail(const char *what, const char *arg, long err)
{
	char b[160];
	u64 n = 0, cap = sizeof b - 1;
	cat(b, &n, cap, "bproc ghost: ");
	cat(b, &n, cap, what);
	if (arg)
		cat(b, &n, cap, arg);
	if (err) {
		cat(b, &n, cap, ": errno ");
		catnum(b, &n, cap, -err);
	}
	b[n++] = '\n';
	sys3(SYS_write, 2, b, n);
	exit_group(255);
}

/*
 * high moves fd above 2. With some of 0-2 closed, the socket or signalfd
 * would take their place; then an error message for fd 2 would go to the
 * master, and a closed stdio fd would not look closed in /proc.
 */
static long high(long fd)
{
	long n;
	if (fd < 0 || fd > 2)
		return fd;
	n = sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
	sys1(SYS_close, fd);
	return n;
}

static const char *getenv(char **envp, const char *name)
{
	for (; *envp; envp++) {
		const char *e = *envp, *k = name;
		while (*k && *e == *k)
			e++, k++;
		if (!*k && *e == '=')
			return e + 1;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* sendall writes the whole buffer; fds ride on the first sendmsg only. */
static long sendall(int s, struct msghdr *m)
{
	u8 *p = m->iov->base;
	u64 left = m->iov->len;
	while (left) {
		long r = sys3(SYS_sendmsg, s, m, MSG_NOSIGNAL);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		p += r;
		left -= (u64)r;
		m->iov->base = p;
		m->iov->len = left;
		m->control = 0;
		m->controllen = 0;
	}
	return 0;
}

/*
 * sendfd sends the event type, arg on s with fd in one SCM_RIGHTS message
 * (no fd if fd < 0). Returns < 0 when the master is gone.
 */
static long sendfd(int s, u32 type, u32 arg, int fd)
{
	u32 b[2] = {type, arg};
	u64 cbuf[3] = {16 + 4, SOL_SOCKET | (u64)SCM_RIGHTS << 32, (u64)(u32)fd};
	struct iovec iov = {b, sizeof b};
	struct msghdr m = {0};

	m.iov = &iov;
	m.iovlen = 1;
	if (fd >= 0) {
		m.control = cbuf;
		m.controllen = sizeof cbuf;
	}
	return sendall(s, &m);
}

static long send8(int s, u32 type, u32 arg)
{
	return sendfd(s, type, arg, -1);
}

/*
 * stop stops the ghost with sig (SIGTSTP, SIGTTIN or SIGTTOU) the
 * default way, so the shell's job control sees WSTOPSIG == sig. The
 * signal was taken off the queue by the signalfd read, so raise it
 * again before unblocking it; the stop happens on the way out of
 * rt_sigprocmask and the call returns once SIGCONT arrives. That
 * SIGCONT stays queued (blocked) for the signalfd, so it is relayed.
 */
static void stop(u32 sig)
{
	u64 pending = 0;

	/*
	 * A SIGCONT that came after the stop signal cancels it, and raising
	 * the stop signal now would discard that SIGCONT and leave the ghost
	 * stopped for good.
	 */
	sys2(SYS_rt_sigpending, &pending, 8);
	if (pending & sigbit(SIGCONT))
		return;
	sys2(SYS_kill, sys1(SYS_getpid, 0), sig);
	setmask(SIG_UNBLOCK, sigbit(sig));
	setmask(SIG_BLOCK, sigbit(sig));
}

/* What the caller asks of a template; fds ride with it (see serve). */
struct request {
	u32 type;
	u32 fdmask;
	u8 token[16];
	u32 flags;
	u32 reserved;
};

/*
 * A ghost's arena of stacks for its siblings (a template's) and its
 * descendant ghosts (forkghost), kept on the ghost's own
 * stack: the address space is shared, so nothing of one ghost's may live
 * in memory another writes. A slot is free when the pid word at its base
 * is 0: clone writes the sibling's PID there (CLONE_PARENT_SETTID) and
 * the kernel clears it when the sibling is gone (CLONE_CHILD_CLEARTID,
 * done in exit_mm, after the sibling last ran on that stack).
 */
struct arena {
	u8 *base;
	u64 slots; /* writable so far */
	u64 next;  /* where the search for a free slot starts */
};

/*
 * spec is what a sibling starts from, written by the template at the top
 * of the sibling's slice (so it is the sibling's own memory). path is the
 * template's environment string, which no one writes. fds are the
 * template's numbers of the reply socket and then of the stdio fds in
 * hello.fdmask, as received, all above 2.
 */
struct spec {
	const char *path;
	struct hello h;
	int fds[4];
	u32 flags;
	u32 pad[3]; /* 64 bytes, so the stack below it stays 16-byte aligned */
};

/*
 * clonevm starts fn(arg) in a new process that shares this address space
 * (flags) on the stack that ends at sp (16-byte aligned), and returns its
 * PID or -errno. The new process never returns here: it has no frame to
 * return to, so fn must not return.
 */
long clonevm(long flags, void *sp, int *tid, void (*fn)(struct spec *), struct spec *arg);
__asm__(".text\n"
	".global clonevm\n"
	"clonevm:\n"
	"	sub $16, %rsi\n"
	"	mov %rcx, (%rsi)\n"  /* fn and arg go on the new stack */
	"	mov %r8, 8(%rsi)\n"
	"	mov %rdx, %r10\n"    /* child_tid = parent_tid = tid */
	"	xor %r8d, %r8d\n"    /* tls */
	"	mov $56, %eax\n"     /* SYS_clone */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	pop %rax\n"
	"	pop %rdi\n"
	"	xor %ebp, %ebp\n"
	"	call *%rax\n"
	"	hlt\n"
	"1:	ret\n");

/* take returns a free slot of a, making more of the arena writable if need be, or 0. */
static u8 *take(struct arena *a)
{
	u64 i;

	if (!a->base) {
		/*
		 * A settled ghost's stack is next to its code (settle): its
		 * arena's first slots go in the same 2 MB region, under the
		 * same page tables (12 kB less), past the most a settled
		 * stack takes (1 MB of strings and ROOM). A hint: the kernel
		 * puts the arena elsewhere if that is taken.
		 */
		u64 code = (u64)__executable_start, at = 0;
		long p;

		if ((u64)&i >> 21 == code >> 21)
			at = (code & -(2UL << 20)) + (5UL << 18);
		p = sys6(SYS_mmap, at, ARENA_SLOTS * SLICE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p < 0)
			return 0;
		a->base = (u8 *)p;
	}
	/* Reuse first: a freed slot's page is already paid for. */
	for (i = 0; i < a->slots; i++) {
		u64 k = (a->next + i) % a->slots;
		if (*(volatile int *)(a->base + k * SLICE) == 0) {
			a->next = k + 1;
			return a->base + k * SLICE;
		}
	}
	if (a->slots == ARENA_SLOTS)
		return 0;
	if (sys3(SYS_mprotect, a->base + a->slots * SLICE, GROW_SLOTS * SLICE, PROT_RW) < 0)
		return 0;
	a->next = a->slots + 1;
	a->slots += GROW_SLOTS;
	return a->base + (a->next - 1) * SLICE;
}

static void ghost(const char *path, struct hello *h, long ctl, u32 flags);

/*
 * sibling is a new ghost's start, on its own slice. It shares the
 * template's memory but not its fds (a copy) or signals (its own
 * handlers, nothing pending, every signal blocked as in the template).
 * It says it runs before anything else, so that the caller learns its
 * PID even if the template died before it could say, and then drops
 * every fd that is not its own.
 */
static __attribute__((noreturn, used)) void sibling(struct spec *p)
{
	u32 fd, k = 1;

	if (p->flags & REQ_SETPGID)
		sys2(SYS_setpgid, 0, 0);
	for (fd = 0; fd < 3; fd++) {
		sys1(SYS_close, fd); /* the template's */
		if (p->h.fdmask & (1U << fd))
			sys3(SYS_dup3, p->fds[k++], fd, 0);
	}
	/*
	 * For the caller if the template died before it could say; the
	 * caller takes the first PID it reads and may be gone from the reply
	 * socket already (EPIPE).
	 */
	send8(p->fds[0], REPLY_RUNNING, (u32)sys1(SYS_getpid, 0));
	sys3(SYS_close_range, 3, ~0U, 0); /* Linux 5.9, as forked's */
	ghost(p->path, &p->h, -1, p->flags);
}

/*
 * forked is a descendant ghost's start (CMD_FORK): a real child of the
 * ghost that forked it, so the master's process tree is the node's. It
 * shares its parent's memory, as a job's siblings share their template's,
 * and runs on a slice of its parent's arena: a copy of the parent's
 * memory would cost it the page tables of an address space of its own
 * (32 kB) and the pages either side dirties after the fork (8 kB), where
 * a slice costs a quarter of a page. Its /proc/PID/cmdline is then its
 * parent's, as its process's is on the node until it execs; an exec
 * re-execs it (reexec), which gives it memory of its own and frees the
 * slice (the kernel clears the pid word at an exec, as at an exit). It
 * keeps no fd of its parent's, not even 0-2: its process's stdio is on
 * the node (its ancestor's, or what it redirected to), and a copy here of
 * bpsh's output would keep a reader of bpsh waiting for the end of a
 * remote daemon that writes nothing there. It keeps only its end of the
 * socket pair its parent made (fds[0], above 2), its connection to the
 * master, which the parent hands the master: it says no hello, and the
 * master reads nothing from it before CMD_WHERE.
 */
static __attribute__((noreturn, noinline)) void relay(const char *path, long s, long ctl, u32 flags, long sfd);

static __attribute__((noreturn, used)) void forked(struct spec *p)
{
	u32 s = (u32)p->fds[0], sfd = (u32)p->fds[1];
	u32 lo = s < sfd ? s : sfd, hi = s < sfd ? sfd : s;

	/*
	 * It keeps its socket and its parent's signalfd, which reads the
	 * signals of the process that reads it (a signalfd of its own
	 * cost three calls more: signalfd4, and its move above 2). Both
	 * above 2 (forkghost, relay): close_range fails for no other
	 * reason.
	 */
	sys3(SYS_close_range, 0, lo - 1, 0);
	if (hi > lo + 1)
		sys3(SYS_close_range, lo + 1, hi - 1, 0);
	sys3(SYS_close_range, hi + 1, ~0U, 0);
	relay(p->path, s, -1, 0, sfd);
}

/*
 * forkghost makes a descendant ghost on a slice of a, with a socket pair
 * of its own: the child keeps one end as its connection to the master,
 * and the other goes to the master on s with the child's PID
 * (EVENT_FORKED), so that the master has the new ghost as soon as clone
 * returns here, without waiting for it to run, connect and say hello.
 * A failure is told as PID 0, with no fd. The child reads its signals
 * from sfd, this ghost's signalfd. With FORK_ASK in arg the PID comes
 * with FORKED_DRAINS. Nothing but the send is done between the clone
 * and it: the master waits for it.
 */
static __attribute__((noinline)) void forkghost(const char *path, long s, struct arena *a, long sfd, u32 arg)
{
	u8 *slot = take(a);
	struct spec *sp = (struct spec *)(slot + SLICE) - 1;
	int sv[2];
	long pid = 0;

	if (!slot || sys4(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		send8((int)s, EVENT_FORKED, 0);
		return;
	}
	/* The child's end above 2: a re-exec'd ghost takes it up from there (start). */
	sp->path = path;
	sp->fds[0] = (int)high(sv[1]);
	sp->fds[1] = (int)sfd;
	/*
	 * No CLONE_PARENT: the ghost's own child. Its exit signal is
	 * SIGCHLD, which reap collects.
	 */
	if (sp->fds[0] >= 0)
		pid = clonevm(CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, sp, (int *)slot, forked, sp);
	if (pid < 0)
		pid = 0;
	/* A failed send is seen as the master's end of the stream (relay). */
	sendfd((int)s, EVENT_FORKED, (u32)pid | (pid && (arg & FORK_ASK) ? FORKED_DRAINS : 0), pid ? sv[0] : -1);
	sys1(SYS_close, sv[0]);
	if (sp->fds[0] >= 0)
		sys1(SYS_close, sp->fds[0]);
}

/*
 * reap collects the ghost's own children (descendant ghosts) that ended,
 * and tells the master on s of each that SIGSTOP stopped: a SIGSTOP
 * cannot be caught, so the child could not relay it, and its process on
 * the node would run on (one stopped by a relayed SIGTSTP stops with
 * that signal). Signals coalesce: one SIGCHLD may stand for several.
 */
static void reap(long s)
{
	int st;
	long pid;

	/* A failed send: the master is gone, seen at the end of its stream (relay). */
	while ((pid = sys4(SYS_wait4, -1, &st, WNOHANG | WUNTRACED | WALL, 0)) > 0)
		if ((st & 0xff) == 0x7f && (st >> 8 & 0xff) == SIGSTOP)
			send8((int)s, EVENT_CHILD_STOPPED, (u32)pid);
}

static u32 popcount3(u32 m)
{
	return (m & 1) + (m >> 1 & 1) + (m >> 2 & 1);
}

/*
 * serve answers one request on the control socket ctl: a new ghost of the
 * same job, as a sibling of this one. The request brings a reply socket
 * of its own and the new ghost's fds 0-2. Either the request is not acted
 * on (REPLY_FAILED, or the reply socket closes unanswered: the template
 * died first) or the caller learns the sibling's PID: from the template
 * (REPLY_CLONED, sent as soon as clone returns) or from the sibling
 * (REPLY_RUNNING, sent first thing), whichever says it first. Returns -1
 * when ctl is finished (the caller closed it).
 */
static __attribute__((noinline)) long serve(int ctl, struct arena *a, const char *path)
{
	struct request q;
	u64 cbuf[5]; /* cmsghdr, then room for 6 fds: more than a request brings, so too many show */
	int *got = (int *)&cbuf[2];
	struct iovec iov = {&q, sizeof q};
	struct msghdr m = {0};
	struct spec *sp;
	u8 *slot;
	u32 n = 0, i;
	long r, err = 0;
	int fds[4];

	m.iov = &iov;
	m.iovlen = 1;
	m.control = cbuf;
	m.controllen = sizeof cbuf;
	r = sys3(SYS_recvmsg, ctl, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r == -EINTR || r == -EAGAIN)
		return 0;
	if (r <= 0)
		return -1;
	if (m.controllen >= 16 && cbuf[1] == (SOL_SOCKET | (u64)SCM_RIGHTS << 32))
		n = (u32)(cbuf[0] - 16) / 4;
	/*
	 * Above 2, where the sibling's own stdio goes (this template's 0-2
	 * may be closed, and received fds take the lowest free numbers).
	 */
	for (i = 0; i < n; i++) {
		if (i < 4)
			fds[i] = (int)high(got[i]);
		else
			sys1(SYS_close, got[i]);
	}
	if (n == 0)
		return 0; /* nowhere to answer: not from our caller */
	if (r != sizeof q || m.flags & (MSG_TRUNC | MSG_CTRUNC) || q.type != REQ_START ||
	    q.fdmask & ~7U || q.reserved || n != 1 + popcount3(q.fdmask))
		err = -EINVAL;
	slot = err ? 0 : take(a);
	if (!err && !slot)
		err = -ENOMEM;
	if (!err) {
		sp = (struct spec *)(slot + SLICE) - 1;
		sp->path = path;
		sp->h = (struct hello){{'B', 'P', 'G', '1'}, q.fdmask, {0}, VERSION, 0};
		memcpy(sp->h.token, q.token, sizeof q.token);
		for (i = 0; i < 4; i++)
			sp->fds[i] = i < n ? fds[i] : -1;
		sp->flags = q.flags;
		/*
		 * No CLONE_THREAD, CLONE_SIGHAND or CLONE_FILES: a process of
		 * its own in all but memory. CLONE_PARENT makes it a child of
		 * the caller, who waits for it as for any ghost; its exit
		 * signal is then the template's, SIGCHLD.
		 */
		r = clonevm(CLONE_VM | CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD,
			    sp, (int *)slot, sibling, sp);
		if (r < 0)
			err = r;
		else
			send8(fds[0], REPLY_CLONED, (u32)r);
	}
	if (err)
		send8(fds[0], REPLY_FAILED, (u32)-err);
	for (i = 0; i < n && i < 4; i++)
		sys1(SYS_close, fds[i]);
	return 0;
}

static __attribute__((noreturn, noinline)) void relay(const char *path, long s, long ctl, u32 flags, long sfd);
static __attribute__((noinline)) long connect_hello(const char *path, struct hello *h);

/*
 * The signals a caller that forwards (REQ_FORWARDED) passes on to its
 * ghosts itself: bpsh's. A terminal sends them (^C, ^\, hangup) to its
 * whole foreground process group, bpsh and its ghosts alike; bpsh passes
 * its copy on through the master, so the ghost drops the kernel's (si_code
 * SI_KERNEL) and each reaches the remote process once. One sent with
 * kill to the ghost is SI_USER, and relayed.
 */
#define FORWARDED_SIGS (1UL << (SIGHUP - 1) | 1UL << (SIGINT - 1) | 1UL << (SIGQUIT - 1) | \
			1UL << (SIGUSR1 - 1) | 1UL << (SIGUSR2 - 1) | 1UL << (SIGTERM - 1))

/*
 * ghost is a ghost's life from its connection on: it connects to the
 * master at path, says hello with h and its fds 0-2 in h->fdmask, and
 * relays. The connection is made in a frame of its own, gone before the
 * relay's: a sibling's stack is a slice of a kilobyte. flags are the
 * request's (REQ_FORWARDED matters here).
 */
static __attribute__((noreturn, noinline)) void ghost(const char *path, struct hello *h, long ctl, u32 flags)
{
	relay(path, connect_hello(path, h), ctl, flags, -1);
}

/*
 * dial connects to the master at path and sends the n bytes of hello at
 * b with the fds among 0-2 in fdmask; returns the socket, or -errno with
 * *what naming the step that failed. path fits sockaddr_un (start checked).
 */
static __attribute__((noinline)) long dial(const char *path, void *b, u64 n, u32 fdmask, const char **what)
{
	struct sockaddr_un sun = {0};
	u64 cbuf[4] = {0}; /* cmsghdr (16 bytes), then up to three ints */
	int *fds = (int *)&cbuf[2];
	u32 nfds = 0;
	u64 plen = slen(path);
	long s, r;
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fdmask & (1U << fd))
			fds[nfds++] = fd;

	/* A leading '@' names an abstract socket, as in Go's net package. */
	sun.family = AF_UNIX;
	memcpy(sun.path, path, plen);
	if (path[0] == '@')
		sun.path[0] = 0;
	else
		plen++;

	*what = "socket";
	s = high(sys3(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (s < 0)
		return s;
	*what = "connect ";
	do
		r = sys3(SYS_connect, s, &sun, 2 + plen);
	while (r == -EINTR);
	if (r < 0 && r != -EISCONN) {
		sys1(SYS_close, s);
		return r;
	}

	{
		struct iovec iov = {b, n};
		struct msghdr m = {0};

		m.iov = &iov;
		m.iovlen = 1;
		if (nfds) {
			cbuf[0] = 16 + 4 * nfds;                      /* cmsg_len */
			cbuf[1] = SOL_SOCKET | (u64)SCM_RIGHTS << 32; /* level, type */
			m.control = cbuf;
			m.controllen = 16 + (4 * nfds + 7) / 8 * 8;
		}
		*what = "send hello to ";
		r = sendall((int)s, &m);
		if (r < 0) {
			sys1(SYS_close, s);
			return r;
		}
	}
	return s;
}

/* connect_hello connects to the master at path and says hello with h; returns the socket. */
static __attribute__((noinline)) long connect_hello(const char *path, struct hello *h)
{
	const char *what;
	long s;

	if (slen(path) >= sizeof((struct sockaddr_un *)0)->path)
		fail("BPROC_GHOST_SOCK too long: ", path, 0);
	s = dial(path, h, sizeof *h, h->fdmask, &what);
	if (s < 0)
		fail(what, what[0] == 's' && what[1] == 'o' ? 0 : path, s);
	return s;
}

/* sendkept sends the stdin kept, after a resume hello. */
static __attribute__((noinline)) long sendkept(long s, struct kept *k)
{
	u8 *ring = (u8 *)(k + 1);
	u32 first = k->len < KEEP_MAX - k->head ? k->len : KEEP_MAX - k->head;
	struct iovec iov[2] = {{ring + k->head, first}, {ring, k->len - first}};
	struct msghdr m = {0};
	u32 i;

	m.iovlen = 1;
	for (i = 0; i < 2; i++) {
		if (!iov[i].len)
			continue;
		m.iov = &iov[i];
		if (sendall((int)s, &m) < 0)
			return -1;
	}
	return 0;
}

/*
 * reconnect follows the loss of the master on s: the ghost waits for the
 * next master on the same path, for w->grace seconds (a try every quarter
 * of a second), and tells it who it is (struct rhello: the master knows
 * its PID from the socket). Signals meanwhile stay pending in the kernel
 * (the signalfd is not read), so they are relayed once connected; a
 * standard signal sent twice meanwhile merges, as the kernel merges it.
 * Returns the new socket, or -1: no grace, or no master came.
 */
static __attribute__((noinline)) long reconnect(const char *path, long s, const struct where *w)
{
	struct rhello h = {{'B', 'P', 'G', 'R'}, 0, RESUME_VERSION, w->node, w->nodepid, w->flags & HAVE_IN,
			   {w->out[0], w->out[1]}, w->in, 0, 0, 0};
	const char *what;
	u64 tries = (u64)w->grace * 4;
	int fd;

	sys1(SYS_close, s);
	for (fd = 0; fd < 3; fd++)
		if (sys2(SYS_fcntl, fd, F_GETFD) >= 0)
			h.fdmask |= 1U << fd;
	if (w->kept) {
		h.keptbase = w->kept->base;
		h.keptlen = w->kept->len;
	}
	for (; tries > 0; tries--) {
		sys3(SYS_poll, 0, 0, 250);
		s = dial(path, &h, sizeof h, h.fdmask, &what);
		if (s >= 0 && (!h.keptlen || sendkept(s, w->kept) == 0))
			return s;
		if (s >= 0)
			sys1(SYS_close, s);
	}
	return -1;
}

/* readmore reads the n bytes that follow a command; < 0: the master is gone. */
static long readmore(long s, u8 *b, u64 n)
{
	u64 got = 0;
	long r;
	while (got < n) {
		r = sys3(SYS_read, s, b + got, n - got);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (u64)r;
	}
	return 0;
}

/* readall reads n bytes from the master, or dies: it is gone. */
static void readall(long s, u8 *b, u64 n)
{
	if (readmore(s, b, n) < 0)
		die(SIGKILL);
}

/*
 * data writes the n bytes of output stream (1, 2) that follow CMD_DATA to
 * the ghost's fd stream, counts them in w->out (what a next master goes
 * on from) and tells the master, which acknowledges them to the node only
 * then. The write and its count are the ghost's alone, so a master killed
 * at any point neither loses nor repeats a byte: a frame it did not
 * finish sending is not written, and the node still holds it. The frame
 * is read whole before it is written, into a buffer mapped while output
 * flows (a ghost holds none once its output is quiet for a while: relay). A write blocks
 * the ghost (its signals wait meanwhile) as the process's own would; a
 * failed one (EPIPE: the kernel's SIGPIPE is relayed from the signalfd)
 * drops the rest of that stream, counted all the same. Returns < 0 when
 * the stream ended or the frame is not a master's.
 */
static __attribute__((noinline)) long data(long s, struct where *w, u8 **buf, u32 arg)
{
	u32 stream = arg >> 24, n = arg & 0xffffff;
	struct pollfd p = {(int)stream, 4 /* POLLOUT */, 0};
	u64 done = 0;
	long r;

	if (stream < 1 || stream > 2 || n > DATA_MAX)
		return -1; /* not our master's: hang up */
	if (!*buf) {
		r = sys6(SYS_mmap, 0, DATA_MAX, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r < 0)
			return -1; /* cannot hold it: let the node keep it for the next master */
		*buf = (u8 *)r;
	}
	if (readmore(s, *buf, n) < 0)
		return -1;
	while (done < n && !(w->flags & 1U << stream)) {
		r = sys3(SYS_write, stream, *buf + done, n - done);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) { /* a description shared with a non-blocking user */
			sys3(SYS_poll, &p, 1, -1);
			continue;
		}
		if (r <= 0) {
			w->flags |= 1U << stream;
			break;
		}
		done += (u64)r;
	}
	w->out[stream - 1] += n;
	send8((int)s, EVENT_WROTE, arg); /* a failure: seen at the end of the stream (relay) */
	return 0;
}

/*
 * keep holds the n bytes of stdin that follow CMD_KEEP (at the node's
 * offset off) until the node has acknowledged them (inack): a next
 * master sends them again from what the node says it has. Stdin already
 * read from the ghost's fd 0 would otherwise go with a killed master.
 * The master holds no more unacknowledged than KEEP_MAX, so bytes pushed
 * out of a full ring are acknowledged ones whose word has not come yet.
 * Returns < 0 when the master is gone.
 */
static __attribute__((noinline)) long keep(long s, struct where *w, u32 n)
{
	struct kept *k = w->kept;
	u64 off;
	u32 at, part;

	if (n > KEEP_MAX || readmore(s, (u8 *)&off, 8) < 0)
		return -1;
	if (!k) {
		long r = sys6(SYS_mmap, 0, sizeof *k + KEEP_MAX, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r < 0)
			return -1;
		k = w->kept = (struct kept *)r;
	}
	if (k->len == 0 || off != k->base + k->len) { /* not what follows: a new count (a move) */
		k->base = off;
		k->head = 0;
		k->len = 0;
	}
	if (k->len + n > KEEP_MAX) {
		u32 drop = k->len + n - KEEP_MAX;
		k->head = (k->head + drop) % KEEP_MAX;
		k->len -= drop;
		k->base += drop;
	}
	at = (k->head + k->len) % KEEP_MAX;
	part = n < KEEP_MAX - at ? n : KEEP_MAX - at;
	if (readmore(s, (u8 *)(k + 1) + at, part) < 0 || readmore(s, (u8 *)(k + 1), n - part) < 0)
		return -1;
	k->len += n;
	return 0;
}

/* inack lets go of the stdin kept before the node's offset off. */
static void inack(struct where *w, u64 off)
{
	struct kept *k = w->kept;

	if (!k || off <= k->base)
		return;
	if (off >= k->base + k->len) {
		sys2(SYS_munmap, k, sizeof *k + KEEP_MAX);
		w->kept = 0;
		return;
	}
	k->head = (k->head + (u32)(off - k->base)) % KEEP_MAX;
	k->len -= (u32)(off - k->base);
	k->base = off;
}

/*
 * reexec makes the ghost show the argv of n bytes that follows CMD_EXEC
 * (the remote process exec'd): it execs its own program again with that
 * argv, keeping its connection s (and a template's ctl), which the new
 * program takes up from BPROC_GHOST_FD without a hello. It stays the same
 * process for the master and for its parent: same PID, children, process
 * group, signal mask and pending signals. A failed exec leaves it as it
 * was. A sibling leaves its group's memory so (its slot is freed, as at
 * its exit): it pays for pages of its own from then on. REQ_FORWARDED
 * goes on as BPROC_GHOST_FORWARDED, as bpsh's ghosts get it.
 */
static __attribute__((noinline)) void reexec(const char *path, long s, long ctl, u32 flags, u32 n)
{
	long buf = sys6(SYS_mmap, 0, EXEC_BUF, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = (char *)buf, *e, **argv, **envp;
	u32 i, argc = 0, from = 0;
	u64 k = 0;

	if (buf < 0 || n > EXEC_MAX) {
		u8 skip[64]; /* keep the stream in step */
		for (; n > 0; n -= n < sizeof skip ? n : sizeof skip)
			readall(s, skip, n < sizeof skip ? n : sizeof skip);
		if (buf >= 0)
			sys2(SYS_munmap, buf, EXEC_BUF);
		return;
	}
	readall(s, (u8 *)b, n);
	e = b + EXEC_MAX;
	argv = (char **)(e + EXEC_ENV);
	for (i = 0; i < n && argc < EXEC_ARGS; i++)
		if (!b[i]) {
			argv[argc++] = b + from;
			from = i + 1;
		}
	argv[argc] = 0;
	envp = argv + argc + 1;
	envp[0] = e;
	cat(e, &k, EXEC_ENV, "BPROC_GHOST_SOCK=");
	cat(e, &k, EXEC_ENV, path);
	e[k++] = 0;
	envp[1] = e + k;
	cat(e, &k, EXEC_ENV, "BPROC_GHOST_FD=");
	catnum(e, &k, EXEC_ENV, s);
	e[k++] = 0;
	i = 2;
	if (ctl >= 0) {
		envp[i++] = e + k;
		cat(e, &k, EXEC_ENV, "BPROC_GHOST_GROUP=1");
		e[k++] = 0;
	}
	if (flags & REQ_FORWARDED) {
		envp[i++] = e + k;
		cat(e, &k, EXEC_ENV, "BPROC_GHOST_FORWARDED=1");
		e[k++] = 0;
	}
	envp[i] = 0;
	if (argc > 0) {
		sys3(SYS_fcntl, s, F_SETFD, 0);
		sys3(SYS_execve, "/proc/self/exe", argv, envp);
		sys3(SYS_fcntl, s, F_SETFD, FD_CLOEXEC);
	}
	sys2(SYS_munmap, buf, EXEC_BUF);
}

/*
 * nextsig reads a signal from the ghost's signalfd: its number to relay,
 * 0 for none (nothing read, or the terminal's copy of a signal its caller
 * passes on itself), -1 for a descendant ghost that ended or stopped. A
 * function of its own so that the 128 bytes of signalfd_siginfo are off
 * the stack while relay reconnects: the deepest path of a sibling's
 * 1 kB slice (below).
 */
static __attribute__((noinline)) long nextsig(long sfd, u32 flags)
{
	struct sfd_info si;
	long r = sys3(SYS_read, sfd, &si, sizeof si);

	if (r < 0 && r != -EINTR)
		die(SIGKILL); /* cannot happen; never spin on it */
	if (r != (long)sizeof si)
		return 0;
	if (si.signo == SIGCHLD && si.code > 0)
		return -1;
	if (si.code == SI_KERNEL && (flags & REQ_FORWARDED) && si.signo <= 64 && (FORWARDED_SIGS & sigbit(si.signo)))
		return 0; /* the terminal's copy: the caller passes its own on */
	return si.signo;
}

/*
 * relay relays signals over the connection s until the master says how
 * to die, and does what else it says. With ctl >= 0 the ghost is also a
 * template, serving requests for siblings on ctl. sfd is its signalfd, or
 * -1 to make one.
 *
 * A write to the master that fails does not end the connection: what the
 * master wrote before it closed its end is read first (its status, for a
 * ghost whose process ended as it relayed a signal), and the end of the
 * stream is what makes the ghost look for the next master. So the master
 * may close a ghost's connection as soon as it has told it how to die
 * (FORKED_DRAINS says so).
 */
static __attribute__((noreturn, noinline)) void relay(const char *path, long s, long ctl, u32 flags, long sfd)
{
	struct arena a = {0};
	struct where w = {0};
	u8 *buf = 0;
	long r;

	if (sfd < 0) {
		u64 all = ~0UL;
		sfd = high(sys4(SYS_signalfd4, -1, &all, 8, SFD_CLOEXEC));
		if (sfd < 0)
			fail("signalfd", 0, sfd);
	}

	for (;;) {
		struct pollfd p[3] = {{(int)s, POLLIN, 0}, {(int)sfd, POLLIN, 0}, {(int)ctl, POLLIN, 0}};

		/* Output quiet for a second: its buffer goes (data maps it again). */
		r = sys3(SYS_poll, p, ctl >= 0 ? 3 : 2, buf ? 1000 : -1);
		if (r < 0) {
			if (r == -EINTR)
				continue;
			die(SIGKILL);
		}
		if (r == 0) {
			sys2(SYS_munmap, buf, DATA_MAX);
			buf = 0;
			continue;
		}

		if (p[1].revents) {
			long sig = nextsig(sfd, flags);
			if (sig < 0) {
				/*
				 * A descendant ghost ended or stopped: reap it. Not
				 * relayed: the remote parent gets its own SIGCHLD on
				 * the node.
				 */
				reap(s);
			} else if (sig > 0) {
				if (send8((int)s, EVENT_SIGNAL, (u32)sig) < 0)
					/*
					 * The master is gone: pending again, for the
					 * next one, once what it wrote is read (a
					 * CMD_WHERE's grace decides whether to wait
					 * for one).
					 */
					sys2(SYS_kill, sys1(SYS_getpid, 0), sig);
				else if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
					stop((u32)sig);
			}
		}

		/*
		 * Before any request: told to exit, a template exits at once,
		 * whatever is queued on ctl (the caller sees its request fail
		 * and starts that ghost another way).
		 */
		if (p[0].revents) {
			u32 c[4];
			if (readmore(s, (u8 *)c, 8) < 0) {
				/* EOF or error: the master is gone; wait for the next. */
				if ((s = reconnect(path, s, &w)) < 0)
					die(SIGKILL);
				continue;
			}
			if ((c[0] == CMD_WHERE || c[0] == CMD_OUT) && readmore(s, (u8 *)&c[2], 8) < 0) {
				if ((s = reconnect(path, s, &w)) < 0)
					die(SIGKILL);
				continue;
			}
			if (c[0] == CMD_WHERE) {
				w.node = c[1];
				w.nodepid = c[2];
				w.grace = c[3];
			}
			if (c[0] == CMD_OUT && (c[1] == 1 || c[1] == 2))
				w.out[c[1] - 1] = (u64)c[2] | (u64)c[3] << 32;
			if (c[0] == CMD_OUT && c[1] == IN_ACK)
				inack(&w, (u64)c[2] | (u64)c[3] << 32);
			if (c[0] == CMD_KEEP && keep(s, &w, c[1]) < 0) {
				if ((s = reconnect(path, s, &w)) < 0)
					die(SIGKILL);
				continue;
			}
			if (c[0] == CMD_OUT && c[1] == 0) {
				w.in = (u64)c[2] | (u64)c[3] << 32;
				w.flags |= HAVE_IN;
			}
			if (c[0] == CMD_DATA && data(s, &w, &buf, c[1]) < 0) {
				if ((s = reconnect(path, s, &w)) < 0)
					die(SIGKILL);
				continue;
			}
			if (c[0] == CMD_EXIT)
				exit_group((int)c[1]);
			if (c[0] == CMD_SIGNAL)
				die(c[1]);
			if (c[0] == CMD_FORK) {
				u8 tok[16];
				/* The token is for ghosts before socket pairs: unused. */
				if (!(c[1] & FORK_SHORT) && readmore(s, tok, sizeof tok) < 0) {
					if ((s = reconnect(path, s, &w)) < 0)
						die(SIGKILL);
					continue;
				}
				forkghost(path, s, &a, sfd, c[1]);
			}
			if (c[0] == CMD_EXEC)
				reexec(path, s, ctl, flags, c[1]);
			/* Mirrored where the kernel lets the ghost: errors are not told. */
			if (c[0] == CMD_SETPGID)
				sys2(SYS_setpgid, 0, c[1]);
			if (c[0] == CMD_SETSID)
				sys1(SYS_setsid, 0);
		}

		if (ctl >= 0 && p[2].revents && serve((int)ctl, &a, path) < 0) {
			sys1(SYS_close, ctl);
			ctl = -1;
		}
	}
}

/*
 * An exec'd ghost (a template, or any ghost after reexec) holds an address
 * space of its own, as /proc/PID/cmdline is read from one. As the kernel
 * lays it out, its stack is far from its text: page tables for two
 * regions (a PUD, a PMD and a PTE page each, 24 kB), and a stack of two
 * pages more often than not (the strings at its top, the frames up to
 * 8 kB below them at a random offset). settle copies what the ghost keeps
 * of its stack, its argv and environment strings, to a mapping right
 * after its text, tells the kernel that its argv and environment are
 * there now (PR_SET_MM_MAP: unprivileged, with CONFIG_CHECKPOINT_RESTORE),
 * runs on below them and unmaps all above: the old stack, and the vDSO and
 * vvar, which it never calls (no libc, no signal handlers) and whose PUD
 * page would stay. One 2 MB region, 12 kB of page tables, and a page
 * for strings and stack (two past 2 kB of strings). Where the kernel
 * refuses any of it, the ghost goes on as it was. vmadump's use of the
 * stub stops it at its exec, before any of this.
 */
#define TASK_TOP 0x7ffffffff000UL /* x86_64's TASK_SIZE with 4-level page tables; the stack is below it with 5 too */
#define ROOM 2048 /* stack below the strings, at least: TestSiblingStackStatic's bound (800 bytes deep) */

struct mm_map { /* the kernel's struct prctl_mm_map */
	u64 start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
	u64 arg_start, arg_end, env_start, env_end;
	u64 *auxv;
	u32 auxv_size, exe_fd;
};

/* What goes on to the new stack, at its top below the strings. */
struct moved {
	const char *path;
	long s, ctl;
	u32 flags, hello; /* hello: say h (ghost), else relay on s */
	u64 old, oldlen;  /* the old stack */
	struct hello h;
};

/* onstack calls fn(m) on the stack that ends at m (16-byte aligned); fn must not return. */
void onstack(struct moved *m, void (*fn)(struct moved *));
__asm__(".text\n"
	".global onstack\n"
	"onstack:\n"
	"	mov %rdi, %rsp\n"
	"	xor %ebp, %ebp\n"
	"	call *%rsi\n"
	"	hlt\n");

/* settled is settle's sequel on the new stack: the old one goes, the vDSO with it. */
static __attribute__((noreturn, used)) void settled(struct moved *m)
{
	sys2(SYS_munmap, m->old, m->oldlen);
	if (m->hello)
		ghost(m->path, &m->h, m->ctl, m->flags);
	relay(m->path, m->s, m->ctl, m->flags, -1);
}

/*
 * settle goes on as ghost(path, h, ctl, flags) with h, as relay(path, s,
 * ctl, flags) without, on a stack moved next to the text if it can. sp is
 * where the kernel left argc, argv, the environment and auxv.
 */
static __attribute__((noreturn, noinline)) void settle(long *sp, const char *path, const struct hello *h, long s, long ctl, u32 flags)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1, **e = envp;
	struct mm_map mm = {0};
	struct moved *m;
	/* Where the program ends: its one loaded segment's p_vaddr + p_filesz (e_phoff is at byte 32). */
	const u64 *ph = (const u64 *)(__executable_start + ((const u64 *)__executable_start)[4]);
	u64 end = ph[2] + ph[4], lo, hi, size;
	long base;

	while (*e)
		e++;
	if (sp[0] < 1 || e == envp)
		goto stay;
	lo = (u64)argv[0];
	hi = (u64)e[-1] + slen(e[-1]) + 1;
	/* path is one of the strings; more than 1 MB of them is no ghost's. */
	if (hi <= lo || hi - lo > (1 << 20) || (u64)path < lo || (u64)path >= hi)
		goto stay;
	size = (hi - lo + sizeof *m + 16 + ROOM + PAGE - 1) & -PAGE;
	base = sys6(SYS_mmap, (end + PAGE - 1) & -PAGE, size, PROT_RW,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (base < 0)
		goto stay;
	/* Elsewhere (an old kernel, no MAP_FIXED_NOREPLACE): it must be below the old stack. */
	if ((u64)base + size > lo)
		goto unmap;
	memcpy((char *)base + size - (hi - lo), (char *)lo, hi - lo);
	mm.start_code = mm.start_data = (u64)__executable_start;
	mm.end_code = mm.end_data = end; /* as the kernel set them */
	/*
	 * The brk (never used: no malloc here) a page past the new stack,
	 * out of the arena take places after it, which a random brk would
	 * fall in (it would show as [heap]).
	 */
	mm.start_brk = mm.brk = (u64)base + size + PAGE;
	mm.arg_start = (u64)base + size - (hi - lo);
	mm.arg_end = mm.arg_start + ((u64)argv[sp[0] - 1] + slen(argv[sp[0] - 1]) + 1 - lo);
	mm.env_start = mm.arg_start + ((u64)envp[0] - lo);
	mm.env_end = (u64)base + size;
	mm.exe_fd = ~0U;
	m = (struct moved *)((mm.arg_start - sizeof *m) & -16UL);
	mm.start_stack = (u64)m;
	if (sys4(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, &mm, sizeof mm) < 0)
		goto unmap;
	m->path = (const char *)(mm.arg_start + ((u64)path - lo));
	m->s = s;
	m->ctl = ctl;
	m->flags = flags;
	m->hello = h != 0;
	if (h)
		m->h = *h;
	m->old = (u64)base + size;
	m->oldlen = TASK_TOP - m->old;
	onstack(m, settled);
unmap:
	sys2(SYS_munmap, base, size);
stay:
	if (h)
		ghost(path, (struct hello *)h, ctl, flags);
	relay(path, s, ctl, flags, -1);
}

/*
 * A template exec'd before its master answered its caller (Group.Prestart,
 * BPROC_GHOST_TOKEN=-) waits for its token: the first message on its
 * control socket, a REQ_TOKEN request. Signals are blocked, so the read is
 * not interrupted. The socket closing first means no ghost is wanted (its
 * caller's job failed, or started its first ghost with other files): it
 * exits 0 without a word, and its caller reaps it.
 */
static void prestarted(struct hello *h)
{
	struct request q;
	long r = sys3(SYS_read, GROUP_FD, &q, sizeof q);
	if (r == 0)
		exit_group(0);
	if (r != sizeof q || q.type != REQ_TOKEN)
		fail("prestarted template: no token on the control socket", 0, r < 0 ? r : 0);
	memcpy(h->token, q.token, sizeof q.token);
}

__attribute__((used, noreturn)) void start(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	const char *path, *tok, *group, *resume, *fwd;
	u32 flags = 0;
	struct hello h = {{'B', 'P', 'G', '1'}, 0, {0}, VERSION, 0};
	u64 i;
	int fd;

	/* Signals are the ghost's input: none may act before it relays them. */
	setmask(SIG_SETMASK, ~0UL);

	/* The comm of a process exec'd from /proc/self/fd/N is "N". */
	if (argc > 0 && argv[0] && argv[0][0]) {
		const char *base = argv[0];
		for (const char *p = argv[0]; *p; p++)
			if (*p == '/' && p[1])
				base = p + 1;
		sys2(SYS_prctl, PR_SET_NAME, base);
	}

	/*
	 * Fd 3 is the memfd this program was exec'd from (Start passes it so
	 * that Go's fork cannot reuse its number); the rest are whatever the
	 * caller forgot to mark close-on-exec. None of them is ours to keep,
	 * but for a template's control socket, GROUP_FD.
	 */
	group = getenv(envp, "BPROC_GHOST_GROUP");
	group = group && group[0] == '1' && !group[1] ? group : 0;

	/*
	 * Exec'd by itself (reexec): connected already, on fd BPROC_GHOST_FD;
	 * its only other fds are its stdio and a template's GROUP_FD.
	 */
	fwd = getenv(envp, "BPROC_GHOST_FORWARDED");
	if (fwd && fwd[0] == '1' && !fwd[1])
		flags |= REQ_FORWARDED;

	resume = getenv(envp, "BPROC_GHOST_FD");
	path = getenv(envp, "BPROC_GHOST_SOCK");
	if (resume && path && *path) {
		long rfd = 0;
		for (; *resume >= '0' && *resume <= '9' && rfd < 1 << 20; resume++)
			rfd = rfd * 10 + (*resume - '0');
		if (*resume || rfd < 3)
			fail("BPROC_GHOST_FD is not a descriptor above 2", 0, 0);
		sigdefault(SIGTSTP);
		sigdefault(SIGTTIN);
		sigdefault(SIGTTOU);
		settle(sp, path, 0, rfd, group ? GROUP_FD : -1, flags);
	}

	if (group) {
		sys1(SYS_close, 3);
		sys3(SYS_close_range, GROUP_FD + 1, ~0U, 0);
	} else {
		if (sys3(SYS_close_range, 3, ~0U, 0) < 0)
			sys1(SYS_close, 3);
	}

	/* Look before the socket and signalfd take the lowest free numbers. */
	for (fd = 0; fd < 3; fd++)
		if (sys2(SYS_fcntl, fd, F_GETFD) >= 0)
			h.fdmask |= 1U << fd;

	/* Stop signals must stop the ghost even if the caller ignored them. */
	sigdefault(SIGTSTP);
	sigdefault(SIGTTIN);
	sigdefault(SIGTTOU);

	path = getenv(envp, "BPROC_GHOST_SOCK");
	if (!path || !*path)
		fail("BPROC_GHOST_SOCK not set", 0, 0);
	tok = getenv(envp, "BPROC_GHOST_TOKEN");
	if (!tok || !*tok)
		fail("BPROC_GHOST_TOKEN not set", 0, 0);
	if (group && tok[0] == '-' && !tok[1]) {
		prestarted(&h);
		settle(sp, path, &h, -1, GROUP_FD, flags);
	}
	for (i = 0; i < 32; i++) {
		int hi = hexval(tok[i]), lo;
		if (hi < 0)
			break;
		lo = hexval(tok[++i]);
		if (lo < 0)
			break;
		h.token[i / 2] = (u8)(hi << 4 | lo);
	}
	if (i != 32 || tok[32])
		fail("BPROC_GHOST_TOKEN is not 32 lowercase hex digits", 0, 0);

	settle(sp, path, &h, -1, group ? GROUP_FD : -1, flags);
}

/* The kernel enters here with argc at (%rsp); keep the ABI's alignment. */
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call start\n"
	"	hlt\n");
