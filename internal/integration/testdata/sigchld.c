/* sigchld N: catches SIGCHLD (with SA_RESTART, so no call of its fails
 * with EINTR), prints its PID, makes N children that end at once with
 * status 7, reaps them, prints "bad=K" (K: statuses not 7) and waits for
 * the end of stdin. A child's SIGCHLD comes as the next fork runs, which
 * the kernel then restarts: the process space's test that such a fork
 * still makes one ghost, which ends with status 7. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void onchld(int sig)
{
	(void)sig;
	got++;
}

int main(int argc, char **argv)
{
	int i, st, bad = 0, n = argc > 1 ? atoi(argv[1]) : 10;
	struct sigaction sa;
	char b[64];

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onchld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, 0);
	printf("%d\n", (int)getpid());
	fflush(stdout);
	for (i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(7);
		if (p < 0) {
			perror("fork");
			bad++;
		}
	}
	for (i = 0; i < n; i++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
			bad++;
	printf("bad=%d\n", bad);
	fflush(stdout);
	while (read(0, b, sizeof b) > 0)
		;
	return 0;
}
