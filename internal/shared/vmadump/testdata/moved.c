/* moved: a process for vmadump's tests. It fills memory, sets a signal
   handler, says "ready PID" and blocks in read(0). Rebuilt elsewhere with
   read returning MAGIC, it checks that everything is as it was and says
   "moved PID uid UID ok". */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
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
	volatile double d = 1.5;
	signal(SIGUSR1, on_usr1);
	printf("ready %d\n", getpid());
	fflush(stdout);

	time_t t0 = time(NULL);
	char c;
	/* A register the call leaves alone: the rebuilt process must have
	 * it as it was (the FPU state moves). */
	unsigned long long pattern = 0x0123456789abcdefULL, back = 0;
	__asm__ volatile("movq %0, %%xmm15" : : "r"(pattern) : "xmm15");
	long r = syscall(SYS_read, 0, &c, 1);
	__asm__ volatile("movq %%xmm15, %0" : "=r"(back));
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
	if (back != pattern) {
		printf("xmm15 differs: %#llx\n", back);
		return 5;
	}
	/* The clock through the vDSO, whichever it is now. */
	struct timespec ts;
	struct timeval tv;
	clock_gettime(CLOCK_REALTIME, &ts);
	gettimeofday(&tv, NULL);
	time_t now = time(NULL);
	if (labs((long)(ts.tv_sec - t0)) > 600 || labs((long)(tv.tv_sec - t0)) > 600 || labs((long)(now - t0)) > 600 || sched_getcpu() < 0) {
		printf("clock differs: %ld %ld %ld, was %ld; cpu %d\n", (long)ts.tv_sec, (long)tv.tv_sec, (long)now, (long)t0, sched_getcpu());
		return 6;
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
