/* tmpmove: bproc_rfork, bproc_vrfork and bproc_move of a program that
 * lies in the master's /tmp, which no node sees: each copy says where it
 * runs and what /proc/self/exe is there, and exits with a status of its
 * own, which the parent checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bproc.h"
#include "move.h"

static void where(const char *what)
{
	char exe[512] = "";
	if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0)
		snprintf(exe, sizeof exe, "(%s)", strerror(errno));
	printf("%s on n%d exe %s\n", what, bproc_currnode(), exe);
}

static int waitfor(int pid, int want, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != want) {
		printf("%s: status %#x\n", what, st);
		return 1;
	}
	printf("%s exited %d\n", what, want);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int bad = 0;
	int pid = bproc_rfork(1);
	if (pid < 0) {
		printf("rfork: %s (errno %d)\n", bproc_strerror(errno), errno);
		return 1;
	}
	if (pid == 0) {
		where("rfork child");
		_exit(7);
	}
	bad |= waitfor(pid, 7, "rfork child");

	int nodes[2] = {0, 2}, pids[2];
	int r = bproc_vrfork(2, nodes, pids);
	if (r < 0) {
		printf("vrfork: %s (errno %d)\n", bproc_strerror(errno), errno);
		return 1;
	}
	if (r < 2) {
		char what[32];
		snprintf(what, sizeof what, "vrfork child %d", r);
		where(what);
		_exit(20 + r);
	}
	bad |= waitfor(pids[0], 20, "vrfork child 0");
	bad |= waitfor(pids[1], 21, "vrfork child 1");

	pid = fork();
	if (pid == 0) {
		if (bproc_move(2) != 0) {
			printf("move: %s (errno %d)\n", bproc_strerror(errno), errno);
			_exit(1);
		}
		where("moved");
		_exit(9);
	}
	bad |= waitfor(pid, 9, "moved");
	return bad;
}
