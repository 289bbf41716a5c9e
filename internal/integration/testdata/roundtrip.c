/* roundtrip: a child moves master -> node 0 -> node 1 -> master with
 * bproc_move, saying where it is and what it has at each step: its PID,
 * its memory, an alarm() set on the master, an ITIMER_VIRTUAL set on the
 * master that must fire on node 1, its signal handlers; a MAP_SHARED
 * mapping of argv[1] refuses the move ("-": none). Its stdout is the parent's, a pipe
 * of the test's. Back on the master it tells its parent (SIGUSR2), which
 * sends it SIGUSR1; it exits 7, and the parent says what wait() got.
 * argv[2] is how many MB more it carries. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bproc.h"

static volatile sig_atomic_t vtalrm, usr1, usr2;
static void on_vtalrm(int sig) { (void)sig; vtalrm++; }
static void on_usr1(int sig) { (void)sig; usr1++; }
static void on_usr2(int sig) { (void)sig; usr2++; }

static unsigned char *buf;
static const size_t n = 1 << 20;

static void where(const char *when, pid_t pid0)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 7 + 3)) {
			printf("%s: memory differs at %zu\n", when, i);
			exit(2);
		}
	printf("%s: node %d pid %s\n", when, bproc_currnode(), getpid() == pid0 ? "same" : "changed");
}

static void move(int node, const char *when, pid_t pid0)
{
	if (bproc_move(node) != 0) {
		printf("%s: move to %d: %s\n", when, node, bproc_strerror(errno));
		exit(1);
	}
	where(when, pid0);
}

/* cpu burns CPU until ITIMER_VIRTUAL fires or 3 s of it have gone. */
static void cpu(void)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (volatile unsigned long k = 0; !vtalrm; k++) {
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
		if (t.tv_sec - t0.tv_sec >= 3)
			break;
	}
}

static int child(const char *shared, size_t mb)
{
	pid_t pid0 = getpid();
	/* Memory of its own that the original frees when it becomes the
	 * ghost, after the copy on the node runs: the longer it takes, the
	 * later the ghost connects. */
	if (mb > 0)
		memset(malloc(mb << 20), 1, mb << 20);
	buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	signal(SIGVTALRM, on_vtalrm);
	signal(SIGUSR1, on_usr1);

	if (strcmp(shared, "-") == 0)
		goto move;
	int fd = open(shared, O_RDWR);
	void *map = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		printf("map %s: %s\n", shared, strerror(errno));
		return 1;
	}
	close(fd);
	if (bproc_move(0) == 0) {
		printf("shared mapping moved to node %d\n", bproc_currnode());
		return 1;
	}
	printf("shared mapping refused: %s\n", strerror(errno));
	munmap(map, 4096);

move:
	alarm(100);
	struct itimerval vt = {.it_value = {.tv_usec = 200000}};
	setitimer(ITIMER_VIRTUAL, &vt, NULL);
	/* The second move at once: the process has just arrived. */
	if (bproc_move(0) != 0) {
		printf("first move: %s\n", bproc_strerror(errno));
		return 1;
	}
	move(1, "second move", pid0);
	unsigned left = alarm(0);
	printf("alarm on node 1: %s\n", left > 50 && left <= 100 ? "kept" : "lost");
	alarm(left);
	cpu();
	printf("ITIMER_VIRTUAL on node 1: %s\n", vtalrm ? "fired" : "did not fire");
	move(BPROC_NODE_MASTER, "home", pid0);
	left = alarm(0);
	printf("alarm at home: %s\n", left > 50 && left <= 100 ? "kept" : "lost");
	kill(getppid(), SIGUSR2);
	for (int i = 0; i < 500 && !usr1; i++)
		usleep(10000);
	printf("SIGUSR1 at home: %s\n", usr1 ? "caught" : "not caught");
	return 7;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: roundtrip FILE MB\n");
		return 2;
	}
	signal(SIGUSR2, on_usr2);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = fork();
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		exit(child(argv[1], strtoul(argv[2], NULL, 10)));
	}
	/* Told it is home, the parent signals it there. */
	struct timespec ts = {.tv_sec = 60};
	siginfo_t si;
	if (sigtimedwait(&block, &si, &ts) == SIGUSR2)
		kill(pid, SIGUSR1);
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		printf("waitpid: %s\n", strerror(errno));
		return 1;
	}
	if (WIFEXITED(st))
		printf("parent: child exited %d\n", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("parent: child killed by %d\n", WTERMSIG(st));
	return 0;
}
