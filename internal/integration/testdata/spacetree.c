/* spacetree N SEED: a random tree of N processes below this one for the process space's
 * stress test. Each process forks a random share of its budget as
 * children; some call setsid, some are made by a double fork (their
 * parent exits at once and is reaped: they are orphans). Every process
 * prints "p NODEPID PARENT CODE" (CODE: the status it will exit with),
 * then waits at a gate. Once all N are in place the root prints "quiet"
 * and reads stdin: a line "go" opens the gate (the test has looked and
 * signalled meanwhile). Each process then reaps its children, checks
 * each status (its planned code, or killed by SIGTERM or SIGKILL), exits
 * with its code; the root prints "bad=K reaped=M" and "done". */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready[2], gate[2], report[2];
static unsigned seed;

static int rnd(int n) { return (int)(rand_r(&seed) % (unsigned)n); }

static void noop(int sig) { (void)sig; }

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t k = write(1, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			_exit(99);
		s += k;
		n -= (size_t)k;
	}
}

struct kid {
	pid_t pid;
	int code;
};

/* live runs one process of the tree with budget more to make below it. */
__attribute__((noreturn)) static void live(int budget, int code)
{
	struct kid kids[64];
	int nk = 0;
	char line[96];
	snprintf(line, sizeof line, "p %d %d %d\n", getpid(), getppid(), code);
	say(line);
	while (budget > 0 && nk < 64) {
		int share = 1 + rnd(budget);
		if (nk < 3 && share > budget / 2 + 1)
			share = budget / 2 + 1;
		if (nk == 63)
			share = budget;
		budget -= share;
		int kcode = rnd(100);
		int dbl = share > 1 && rnd(10) == 0; /* a double fork */
		pid_t c = fork();
		if (c < 0) {
			snprintf(line, sizeof line, "bad fork: %s\n", strerror(errno));
			say(line);
			continue;
		}
		if (c == 0) {
			seed = seed * 31 + (unsigned)getpid();
			if (rnd(5) == 0)
				setsid();
			if (dbl) {
				/* The middle process counts as one of the share. */
				char one = 1;
				write(ready[1], &one, 1);
				if (fork() == 0) {
					seed = seed * 31 + (unsigned)getpid();
					live(share - 2, kcode);
				}
				_exit(kcode);
			}
			live(share - 1, kcode);
		}
		if (dbl) {
			int st;
			while (waitpid(c, &st, 0) < 0 && errno == EINTR)
				;
			int bad = !WIFEXITED(st) || WEXITSTATUS(st) != kcode;
			char b = bad ? 'b' : 'r';
			write(report[1], &b, 1);
			continue;
		}
		kids[nk].pid = c;
		kids[nk].code = kcode;
		nk++;
	}
	char one = 1;
	write(ready[1], &one, 1);
	char g;
	while (read(gate[0], &g, 1) < 0 && errno == EINTR)
		;
	usleep(rnd(20000));
	for (int i = 0; i < nk; i++) {
		int st;
		while (waitpid(kids[i].pid, &st, 0) < 0) {
			if (errno != EINTR) {
				snprintf(line, sizeof line, "bad wait %d: %s\n", kids[i].pid, strerror(errno));
				say(line);
				goto next;
			}
		}
		int ok = (WIFEXITED(st) && WEXITSTATUS(st) == kids[i].code) ||
			 (WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGKILL));
		if (!ok) {
			snprintf(line, sizeof line, "bad status %d: %#x, want exit %d\n", kids[i].pid, st, kids[i].code);
			say(line);
		}
		char b = ok ? 'r' : 'b';
		write(report[1], &b, 1);
	next:;
	}
	_exit(code);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int n = atoi(argv[1]);
	seed = (unsigned)atoi(argv[2]);
	struct sigaction sa = {.sa_handler = noop, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(ready) || pipe(gate) || pipe(report))
		return 3;
	pid_t root = fork();
	if (root == 0) {
		close(gate[1]);
		close(ready[0]);
		close(report[0]);
		live(n - 1, 0);
	}
	close(gate[0]);
	close(ready[1]);
	close(report[1]);
	/* A ready byte from each of the n processes (a middle of a double
	 * fork sends its own before it exits): all are in place then. */
	int got = 0;
	char buf[256], line[64];
	while (got < n) {
		ssize_t k = read(ready[0], buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 5;
		got += (int)k;
	}
	say("quiet\n");
	if (!fgets(line, sizeof line, stdin))
		return 6;
	close(gate[1]);
	int st, bad = 0, reaped = 0;
	while (waitpid(root, &st, 0) < 0 && errno == EINTR)
		;
	ssize_t k;
	while ((k = read(report[0], buf, sizeof buf)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		for (ssize_t i = 0; i < k; i++) {
			reaped++;
			bad += buf[i] == 'b';
		}
	}
	snprintf(buf, sizeof buf, "bad=%d reaped=%d\ndone\n", bad, reaped);
	say(buf);
	return 0;
}
