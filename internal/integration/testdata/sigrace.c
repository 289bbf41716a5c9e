/* sigrace: a signal sent to a child the moment bproc_rfork returns must
 * reach it on its node. ROUNDS times: rfork to node 0, the child pauses,
 * the parent sends SIGUSR1 at once and waits (an alarm ends a wait that
 * would last for ever). Says "ROUNDS signals arrived" and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bproc.h"
#include "move.h"

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	for (int i = 0; i < rounds; i++) {
		int pid = bproc_rfork(0);
		if (pid == 0) {
			for (;;)
				pause();
		}
		if (pid < 0) {
			printf("round %d: rfork: %s\n", i, bproc_strerror(errno));
			return 1;
		}
		kill(pid, SIGUSR1);
		alarm(20);
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) || WTERMSIG(st) != SIGUSR1) {
			printf("round %d: status %#x\n", i, st);
			return 1;
		}
		alarm(0);
	}
	printf("%d signals arrived\n", rounds);
	return 0;
}
