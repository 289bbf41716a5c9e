/* spacesig N K SEED: forks N children in all, at most K alive at a time,
 * for the process space's signal run (TestSpaceSignals). Each child sleeps
 * a random 0-15 ms and exits with a code of its own (1-120); the test
 * meanwhile sends random signals to their ghosts on the master. This
 * parent reaps each child and prints "s PID CODE STATUS" (STATUS: the
 * raw wait status it got), "lost K" if wait failed K times with children
 * unaccounted for, and "done" at the end: what the node saw. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: spacesig N K SEED\n");
		return 2;
	}
	int n = atoi(argv[1]), k = atoi(argv[2]);
	unsigned seed = (unsigned)atoi(argv[3]);
	static int codes[1 << 22];
	int started = 0, running = 0, lost = 0;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while (started < n || running > 0) {
		if (started < n && running < k) {
			int code = 1 + (int)(rand_r(&seed) % 120);
			long ns = (long)(rand_r(&seed) % 15000) * 1000;
			pid_t pid = fork();
			if (pid < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				perror("fork");
				return 3;
			}
			if (pid == 0) {
				struct timespec ts = {0, ns};
				while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
					;
				_exit(code);
			}
			if (pid < (int)(sizeof codes / sizeof codes[0]))
				codes[pid] = code;
			started++;
			running++;
			continue;
		}
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD with children counted as running: their
			 * statuses went elsewhere. */
			lost += running;
			running = 0;
			break;
		}
		running--;
		printf("s %d %d %d\n", pid, pid < (int)(sizeof codes / sizeof codes[0]) ? codes[pid] : -1, st);
	}
	if (lost > 0)
		printf("lost %d\n", lost);
	printf("done\n");
	return fflush(stdout) == 0 ? 0 : 4;
}
