/* spacemove: started on node 0 by bpsh, it moves itself to node 1 with
 * bproc_move and forks there: the child, which exits 4 after a while,
 * must have a ghost on the master, a child of the moved process's. It
 * prints its PID and the child's, then the child's status as it reaped
 * it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bproc.h"

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (bproc_move(1) != 0) {
		printf("move to 1: %s\n", bproc_strerror(errno));
		return 1;
	}
	pid_t c = fork();
	if (c < 0) {
		printf("fork: %s\n", strerror(errno));
		return 1;
	}
	if (c == 0) {
		sleep(2);
		_exit(4);
	}
	printf("%d %d\n", (int)getpid(), (int)c);
	int st;
	if (waitpid(c, &st, 0) != c) {
		printf("waitpid: %s\n", strerror(errno));
		return 1;
	}
	printf("child=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
