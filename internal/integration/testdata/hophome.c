/* hophome: started on nodes by bpsh (its ghosts share one address space,
 * a ghost group), each rank moves itself back to the master with
 * bproc_move(BPROC_NODE_MASTER), says where it is, and exits 3: bpsh,
 * its parent, sees that status. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bproc.h"

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t pid = getpid();
	int from = bproc_currnode();
	if (bproc_move(BPROC_NODE_MASTER) != 0) {
		printf("move home from %d: %s\n", from, bproc_strerror(errno));
		return 1;
	}
	printf("from %d home on %d pid %s\n", from, bproc_currnode(), getpid() == pid ? "same" : "changed");
	return 3;
}
