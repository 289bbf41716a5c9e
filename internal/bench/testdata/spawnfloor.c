/*
 * spawnfloor: the floor under any launch of many processes on this
 * machine. It starts PROG N times with posix_spawn (vfork and exec, the
 * cheapest way there is) keeping up to K children at once, reaps them
 * all, and prints the seconds it took. No bproc is involved: whatever a
 * launch of N processes costs beyond this, bproc adds.
 *
 * usage: spawnfloor N K PROG
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: spawnfloor N K PROG\n");
		return 2;
	}
	int n = atoi(argv[1]), k = atoi(argv[2]);
	if (n < 1 || k < 1) {
		fprintf(stderr, "spawnfloor: N and K must be positive\n");
		return 2;
	}
	char *av[] = {argv[3], NULL};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int live = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int err = posix_spawn(&pid, argv[3], NULL, NULL, av, environ);
		if (err) {
			fprintf(stderr, "spawnfloor: spawn %s: error %d\n", argv[3], err);
			return 1;
		}
		if (++live >= k) {
			int ws;
			if (wait(&ws) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
				fprintf(stderr, "spawnfloor: a child failed (status %#x)\n", ws);
				return 1;
			}
			live--;
		}
	}
	for (; live > 0; live--) {
		int ws;
		if (wait(&ws) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			fprintf(stderr, "spawnfloor: a child failed (status %#x)\n", ws);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
