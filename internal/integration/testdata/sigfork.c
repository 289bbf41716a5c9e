/* sigfork N: catches SIGUSR1 with a handler without SA_RESTART, prints
 * its PID, then makes N children one after the other, each ending at
 * once, and waits for each (again after EINTR). It prints how many forks
 * failed with EINTR, how many otherwise, and how many SIGUSR1 it caught,
 * then waits for the end of stdin. The process space's test: a signal
 * relayed from its ghost must not fail a fork, as it would not without
 * the node's filter (the kernel restarts a fork a signal interrupts). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void usr1(int sig) { (void)sig; caught++; }

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) : 100, eintr = 0, other = 0;
	struct sigaction sa;
	char b[64];

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = usr1; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, 0);
	printf("%d\n", (int)getpid());
	fflush(stdout);
	for (i = 0; i < n; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		if (p < 0) {
			if (errno == EINTR)
				eintr++;
			else
				other++;
			continue;
		}
		while (waitpid(p, 0, 0) < 0 && errno == EINTR)
			;
	}
	printf("%d %d %d\n", eintr, other, (int)caught);
	fflush(stdout);
	for (;;) {
		ssize_t k = read(0, b, sizeof b);
		if (k == 0 || (k < 0 && errno != EINTR))
			return 0;
	}
}
