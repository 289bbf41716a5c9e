// threadexit: exits with the code argv[1] names from a thread other than
// its main one, as a Go program's os.Exit often does: the process's
// exit_group is made under that thread's ID, not under its PID.
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *end(void *code) { exit((int)(long)code); }

int main(int argc, char **argv) {
	pthread_t t;
	if (argc != 2 || pthread_create(&t, NULL, end, (void *)(long)atoi(argv[1])) != 0)
		return 100;
	for (;;)
		pause();
}
