/* sigign N [exit|signal]: ignores SIGCHLD (so the kernel reaps its
 * children as they end), prints its PID, then makes N children that end
 * at once with status 7, every other one by vfork (its parent waits in
 * the call until the child has ended), and waits for the end of stdin.
 * With "exit" each child ends by the exit system call of its one thread,
 * not exit_group. With "signal" each is forked and ends by SIGUSR1 at
 * once, every other one raising it itself, the others sent it by the
 * parent as soon as the fork returns. With "alarm" a timer interrupts
 * the parent with SIGALRM (caught) every 200 us meanwhile, so that some
 * forks are restarted by the kernel. The process space's test: each
 * child's ghost must end with status 7, or by SIGUSR1. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static void tick(int sig) { (void)sig; }

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) : 10;
	int thread = argc > 2 && strcmp(argv[2], "exit") == 0;
	int sig = argc > 2 && strcmp(argv[2], "signal") == 0;
	int alarm = argc > 2 && strcmp(argv[2], "alarm") == 0;
	struct itimerval every = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
	char b[64];

	signal(SIGCHLD, SIG_IGN);
	printf("%d\n", (int)getpid());
	fflush(stdout);
	if (alarm) {
		signal(SIGALRM, tick);
		setitimer(ITIMER_REAL, &every, 0);
	}
	for (i = 0; i < n; i++) {
		pid_t p = i % 2 && !sig ? vfork() : fork();
		if (p == 0 && sig && i % 2)
			raise(SIGUSR1);
		if (p == 0 && sig)
			for (;;)
				pause();
		if (p > 0 && sig && i % 2 == 0)
			kill(p, SIGUSR1);
		if (p == 0 && thread)
			syscall(SYS_exit, 7);
		if (p == 0)
			_exit(7);
		if (p < 0)
			perror("fork");
	}
	setitimer(ITIMER_REAL, &off, 0);
	while (read(0, b, sizeof b) > 0)
		;
	return 0;
}
