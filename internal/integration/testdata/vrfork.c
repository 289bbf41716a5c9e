/* vrfork: bproc_vrfork to nodes 0..N-1 with MB megabytes of memory. Each
 * copy checks the memory, says "copy I pid P on HOST ok" and exits 30+I;
 * the parent checks every status and says "parent ok". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bproc.h"
#include "move.h"

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int n = argc > 1 ? atoi(argv[1]) : 2;
	size_t size = (size_t)(argc > 2 ? atol(argv[2]) : 1) << 20;
	unsigned char *buf = malloc(size);
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 11 + 3);
	int nodes[256], pids[256];
	if (n < 1 || n > 256)
		return 2;
	for (int i = 0; i < n; i++)
		nodes[i] = i;
	int r = bproc_vrfork(n, nodes, pids);
	if (r >= 0 && r < n) {
		for (size_t i = 0; i < size; i++)
			if (buf[i] != (unsigned char)(i * 11 + 3)) {
				printf("copy %d: memory differs at %zu\n", r, i);
				_exit(2);
			}
		char host[64] = "";
		gethostname(host, sizeof host);
		printf("copy %d pid %d on %s ok\n", r, (int)getpid(), host);
		_exit(30 + r);
	}
	if (r != n) {
		printf("vrfork: %s\n", bproc_strerror(errno));
		return 1;
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int st;
		if (pids[i] <= 0) {
			printf("child %d: %s\n", i, bproc_strerror(-pids[i]));
			bad = 1;
		} else if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 30 + i) {
			printf("child %d (pid %d): status %#x\n", i, pids[i], st);
			bad = 1;
		}
	}
	printf(bad ? "parent failed\n" : "parent ok\n");
	return bad;
}
