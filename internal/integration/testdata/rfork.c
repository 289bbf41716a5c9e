/* rfork: bproc_rfork end to end. It fills memory, forks a child to each
 * node given, and each child checks on its node that the memory and a
 * variable are as they were, says where it is and exits with 10+i; the
 * parent checks each status through wait(), kills a paused child with a
 * signal, and tries the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "bproc.h"
#include "move.h"

#define MB 8

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int nnodes = argc > 1 ? atoi(argv[1]) : 1;
	size_t n = (size_t)MB << 20;
	unsigned char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 13 + 5);
	char *marker = strdup("set before the call");
	volatile int value = 0x1234;
	int pids[64];
	time_t t0 = time(NULL);

	for (int i = 0; i < nnodes; i++) {
		int pid = bproc_rfork(i);
		if (pid < 0) {
			printf("rfork to %d: %s\n", i, bproc_strerror(errno));
			return 1;
		}
		if (pid == 0) {
			for (size_t k = 0; k < n; k++)
				if (buf[k] != (unsigned char)(k * 13 + 5)) {
					printf("child %d: memory differs at %zu\n", i, k);
					_exit(2);
				}
			char host[64] = "";
			gethostname(host, sizeof host);
			if (strcmp(marker, "set before the call") || value != 0x1234) {
				printf("child %d: variables differ\n", i);
				_exit(3);
			}
			/* The clock, through the vDSO glibc found on the master:
			 * the node's kernel may be another one. */
			struct timespec ts;
			struct timeval tv;
			clock_gettime(CLOCK_REALTIME, &ts);
			gettimeofday(&tv, NULL);
			time_t now = time(NULL);
			if (labs((long)(ts.tv_sec - t0)) > 600 || labs((long)(tv.tv_sec - t0)) > 600 || labs((long)(now - t0)) > 600) {
				printf("child %d: clock_gettime %ld, gettimeofday %ld, time %ld; the master said %ld\n", i,
				       (long)ts.tv_sec, (long)tv.tv_sec, (long)now, (long)t0);
				_exit(4);
			}
			printf("child %d pid %d on %s ok\n", i, (int)getpid(), host);
			_exit(10 + i);
		}
		pids[i] = pid;
	}
	int bad = 0;
	for (int i = 0; i < nnodes; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 10 + i) {
			printf("child %d (pid %d): status %#x\n", i, pids[i], st);
			bad = 1;
		} else {
			printf("child %d exited %d\n", i, WEXITSTATUS(st));
		}
	}

	/* bproc_vrfork: a child on each node at once, told apart by the
	 * index it returns. */
	int vfn[64], vfp[64];
	for (int i = 0; i < nnodes; i++)
		vfn[i] = i;
	int r = bproc_vrfork(nnodes, vfn, vfp);
	if (r >= 0 && r < nnodes) {
		char host[64] = "";
		gethostname(host, sizeof host);
		printf("vrfork child %d on %s\n", r, host);
		_exit(20 + r);
	}
	for (int i = 0; i < nnodes; i++) {
		int st;
		if (r != nnodes || vfp[i] <= 0 || waitpid(vfp[i], &st, 0) != vfp[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 20 + i) {
			printf("vrfork child %d: pid %d\n", i, vfp[i]);
			bad = 1;
		}
	}

	/* A signal to the child's PID reaches it on its node. */
	int pid = bproc_rfork(0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	if (pid < 0) {
		printf("rfork for the signal: %s\n", bproc_strerror(errno));
		return 1;
	}
	kill(pid, SIGUSR1);
	int st;
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGUSR1) {
		printf("signalled child: status %#x\n", st);
		bad = 1;
	} else {
		printf("signalled child killed by %d\n", WTERMSIG(st));
	}

	/* bproc_move: a process moves itself; what was it on the master
	 * becomes its ghost, so its parent (this) waits for it as usual. */
	pid = fork();
	if (pid == 0) {
		if (bproc_move(1 % nnodes) != 0) {
			printf("move: %s\n", bproc_strerror(errno));
			_exit(1);
		}
		char host[64] = "";
		gethostname(host, sizeof host);
		printf("moved itself to %s, memory %s\n", host, buf[n - 1] == (unsigned char)((n - 1) * 13 + 5) ? "intact" : "lost");
		_exit(7);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		printf("moved process: status %#x\n", st);
		bad = 1;
	}

	/* A process with a second thread is refused, untouched. */
	pid = fork();
	if (pid == 0) {
		pthread_t th;
		pthread_create(&th, NULL, (void *(*)(void *))pause, NULL);
		if (bproc_move(0) == -1 && errno == EINVAL) {
			printf("threaded process refused: %s\n", bproc_strerror(errno));
			_exit(0);
		}
		_exit(1);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("threaded move: status %#x\n", st);
		bad = 1;
	}

	/* bproc_execmove: a child becomes a program of the master's on a
	 * node; wait() gets that program's status. */
	pid = fork();
	if (pid == 0) {
		char *args[] = {"sh", "-c", "echo execmoved to $(hostname); exit 5", NULL};
		char *env[] = {"PATH=/usr/bin:/bin", NULL};
		bproc_execmove(nnodes - 1, "/bin/sh", args, env);
		printf("execmove: %s\n", bproc_strerror(errno));
		_exit(1);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 5) {
		printf("execmoved child: status %#x\n", st);
		bad = 1;
	}
	int vp[2], vn[2] = {0, nnodes - 1};
	char *true_args[] = {"true", NULL};
	if (bproc_vexecmove(2, vn, vp, "/bin/true", true_args, NULL) != 2 || vp[0] <= 0 || vp[1] <= 0) {
		printf("vexecmove: %d %d\n", vp[0], vp[1]);
		bad = 1;
	}
	for (int i = 0; i < 2; i++)
		if (vp[i] > 0 && (waitpid(vp[i], &st, 0) != vp[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			printf("vexecmove child %d: status %#x\n", i, st);
			bad = 1;
		}
	if (bproc_rexec(999, "/bin/true", true_args, NULL) != -1 || errno != BE_INVALIDNODE) {
		printf("rexec to 999: %s\n", bproc_strerror(errno));
		bad = 1;
	}

	/* Errors, and no child left behind by them. */
	if (bproc_rfork(999) != -1 || errno != BE_INVALIDNODE) {
		printf("rfork to 999: %s\n", bproc_strerror(errno));
		bad = 1;
	}
	if (bproc_rfork(BPROC_NODE_MASTER) != -1 || errno != BE_SAMENODE) {
		printf("rfork to the master: %s\n", bproc_strerror(errno));
		bad = 1;
	}
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
		printf("a child is left\n");
		bad = 1;
	}
	printf(bad ? "parent failed\n" : "parent ok\n");
	return bad;
}
