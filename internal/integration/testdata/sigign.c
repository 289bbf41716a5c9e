/* sigign N [exit|signal|alarm] [nocldwait]: ignores SIGCHLD (so the kernel reaps its
 * children as they end), prints its PID, then makes N children that end
 * at once with status 7, every other one by vfork (its parent waits in
 * the call until the child has ended), and waits for the end of stdin.
 * With "exit" each child ends by the exit system call of its one thread,
 * not exit_group. With "signal" each is forked and ends by SIGUSR1 at
 * once, every other one raising it itself, the others sent it by the
 * parent as soon as the fork returns. With "alarm" a timer interrupts
 * the parent with SIGALRM (caught) every 200 us meanwhile, so that some
 * forks are restarted by the kernel. The process space's test: each
 * child's ghost must end with status 7, or by SIGUSR1. With "nocldwait"
 * SIGCHLD is not ignored but caught, by a handler with SA_NOCLDWAIT, so
 * that the kernel reaps the children all the same. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static void tick(int sig) { (void)sig; }

static void chld(int sig) { (void)sig; }

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) : 10;
	int thread = argc > 2 && strcmp(argv[2], "exit") == 0;
	int sig = argc > 2 && strcmp(argv[2], "signal") == 0;
	int alarm = argc > 2 && strcmp(argv[2], "alarm") == 0;
	struct itimerval every = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
	int nowait = argc > 3 && strcmp(argv[3], "nocldwait") == 0;
	char b[64];

	if (nowait) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = chld;
		sa.sa_flags = SA_NOCLDWAIT | SA_RESTART;
		sigaction(SIGCHLD, &sa, 0);
	} else
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
