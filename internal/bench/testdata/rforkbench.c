/* rforkbench MB REPS NODES: touches MB of memory, then times bproc_rfork to
 * node 0 REPS times (the child exits at once on its node), a local fork
 * REPS times, a child's bproc_move to node 0 and back REPS times ("move
 * US", "home US", timed in the child) and, with NODES
 * > 0, one bproc_vrfork to nodes 0..NODES-1. Prints "rfork US" and
 * "vrfork US" lines, microseconds from the call to its return in the
 * parent (the children run on their nodes by then). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bproc.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	size_t n = (size_t)atol(argv[1]) << 20;
	int reps = atoi(argv[2]), nodes = atoi(argv[3]);
	unsigned char *buf = malloc(n + 1);
	memset(buf, 7, n + 1);
	for (int r = 0; r < reps; r++) {
		double t0 = now_us();
		int pid = bproc_rfork(0);
		if (pid == 0)
			_exit(buf[n] == 7 ? 0 : 1);
		double t1 = now_us();
		if (pid < 0) {
			fprintf(stderr, "rfork: %s\n", bproc_strerror(errno));
			return 1;
		}
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "rfork child: status %#x\n", st);
			return 1;
		}
		printf("rfork %.0f\n", t1 - t0);
	}
	/* The floor: a local fork of the same process. */
	for (int r = 0; r < reps; r++) {
		double t0 = now_us();
		int pid = fork();
		if (pid == 0)
			_exit(buf[n] == 7 ? 0 : 1);
		double t1 = now_us();
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fork: pid %d\n", pid);
			return 1;
		}
		printf("fork %.0f\n", t1 - t0);
	}
	/* A forked child moves itself to node 0 and back: each move timed
	 * in the child, from the call to its return where it arrived. */
	for (int r = 0; r < reps; r++) {
		fflush(stdout);
		int pid = fork();
		if (pid == 0) {
			double t0 = now_us();
			if (bproc_move(0) != 0) {
				fprintf(stderr, "move: %s\n", bproc_strerror(errno));
				_exit(1);
			}
			double t1 = now_us();
			if (bproc_move(BPROC_NODE_MASTER) != 0) {
				fprintf(stderr, "move home: %s\n", bproc_strerror(errno));
				_exit(1);
			}
			double t2 = now_us();
			printf("move %.0f\nhome %.0f\n", t1 - t0, t2 - t1);
			fflush(stdout);
			_exit(buf[n] == 7 ? 0 : 1);
		}
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "move child: pid %d status %#x\n", pid, st);
			return 1;
		}
	}
	if (nodes > 0) {
		int ns[1024], pids[1024];
		for (int i = 0; i < nodes; i++)
			ns[i] = i;
		double t0 = now_us();
		int r = bproc_vrfork(nodes, ns, pids);
		if (r >= 0 && r < nodes)
			_exit(0); /* a child, on node r */
		double t1 = now_us();
		for (int i = 0; i < nodes; i++) {
			int st;
			if (pids[i] <= 0 || waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "vrfork child %d: pid %d\n", i, pids[i]);
				return 1;
			}
		}
		printf("vrfork %.0f\n", t1 - t0);
	}
	return 0;
}
