/* hop: started on a node by bpsh, it moves itself to node 1 and back to
 * node 0 with bproc_move, checking its memory and saying where it is each
 * time, and exits 3: bpsh, its parent on the master, sees that status. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bproc.h"

static void where(const char *when, unsigned char *buf, size_t n)
{
	char host[64] = "";
	gethostname(host, sizeof host);
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 3 + 1)) {
			printf("%s: memory differs at %zu\n", when, i);
			exit(2);
		}
	printf("%s on %s pid %d (node %d)\n", when, host, (int)getpid(), bproc_currnode());
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	size_t n = 4 << 20;
	unsigned char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 3 + 1);
	where("start", buf, n);
	if (bproc_move(1) != 0) {
		printf("move to 1: %s\n", bproc_strerror(errno));
		return 1;
	}
	where("after the first move", buf, n);
	if (bproc_move(0) != 0) {
		printf("move to 0: %s\n", bproc_strerror(errno));
		return 1;
	}
	where("after the second move", buf, n);
	if (bproc_move(0) != -1 || errno != BE_SAMENODE)
		printf("move to the node it is on: %s\n", bproc_strerror(errno));
	return 3;
}
