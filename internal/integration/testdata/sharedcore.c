/*
 * sharedcore: clone a process that shares this one's memory (CLONE_VM
 * without CLONE_THREAD, as a ghost's siblings share their template's),
 * print its PID, and die of SIGQUIT, which dumps core if the process is
 * dumpable. With the argument "undumpable" the dumpable flag (the
 * address space's) is cleared first, as a dying ghost does. The test
 * (TestSharedCoreDump) checks whether the other process lives on.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));

static int other(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

int main(int argc, char **argv)
{
	int pid = clone(other, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone");
		return 1;
	}
	printf("%d\n", pid);
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "undumpable") == 0)
		prctl(PR_SET_DUMPABLE, 0);
	signal(SIGQUIT, SIG_DFL);
	raise(SIGQUIT);
	return 2;
}
