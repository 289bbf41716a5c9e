/* movecount: started on a node by bpsh, it prints 0 to N-1 (argv[1]), one
 * a twentieth of a second, and moves itself to node 1 with bproc_move
 * after line M (argv[2]): its output goes on from its new node. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bproc.h"

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int n = atoi(argv[1]), m = atoi(argv[2]);
	struct timespec tick = {0, 50 * 1000 * 1000};
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < n; i++) {
		printf("%d\n", i);
		if (i == m && bproc_move(1) != 0) {
			fprintf(stderr, "move to 1: %s\n", bproc_strerror(errno));
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}
