/* moved: a process for vmadump's tests. It fills memory, sets a signal
   handler, says "ready PID" and blocks in read(0). Rebuilt elsewhere with
   read returning MAGIC, it checks that everything is as it was and says
   "moved PID uid UID ok". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAGIC 0x4250524fL

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { (void)sig; got_usr1 = 1; }
static char data[] = "initialized data";

int main(int argc, char **argv) {
	size_t n = (size_t)atol(argc > 1 ? argv[1] : "1") << 20;
	unsigned char *buf = malloc(n);
	for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 7 + 3);
	char *small = malloc(100);
	strcpy(small, "heap string");
	volatile int local = 12345;
	double d = 1.5;
	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", getpid());
	fflush(stdout);

	char c;
	long r = syscall(SYS_read, 0, &c, 1);
	if (r != MAGIC) {
		printf("not moved: read returned %ld\n", r);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 7 + 3)) {
			printf("memory differs at %zu\n", i);
			return 2;
		}
	if (strcmp(small, "heap string") || strcmp(data, "initialized data") || local != 12345 || d * 2 != 3.0) {
		printf("data differs\n");
		return 3;
	}
	char *more = malloc(1 << 16);
	memset(more, 1, 1 << 16);
	char *big = malloc(10 << 20);
	memset(big, 2, 10 << 20);
	raise(SIGUSR1);
	if (!got_usr1) {
		printf("signal handler lost\n");
		return 4;
	}
	printf("moved %d uid %d ok\n", getpid(), (int)geteuid());
	fflush(stdout);
	read(0, &c, 1); /* until the test has looked */
	return 42;
}
