/* hopin: started on node 0 by bpsh, it reads a line of stdin there,
 * moves itself to node 1 with bproc_move, reads the next line there (the
 * master feeds the rest of stdin to the node the process is on), then
 * waits for SIGUSR1 (sent to its ghost, relayed to where it now runs) and
 * exits 5 from the handler. It reads a byte at a time, so that nothing
 * past a line is taken before the move. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bproc.h"

static void line(char *buf, size_t n)
{
	size_t i = 0;
	while (i + 1 < n) {
		char c;
		ssize_t k = read(0, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			printf("stdin ended after %zu bytes on node %d\n", i, bproc_currnode());
			exit(1);
		}
		if (c == '\n')
			break;
		buf[i++] = c;
	}
	buf[i] = 0;
}

static void usr1(int sig)
{
	(void)sig;
	printf("usr1 on node %d\n", bproc_currnode());
	_exit(5);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGUSR1, usr1);
	char buf[256];
	line(buf, sizeof buf);
	printf("got %s on node %d\n", buf, bproc_currnode());
	if (bproc_move(1) != 0) {
		printf("move to 1: %s\n", bproc_strerror(errno));
		return 1;
	}
	printf("moved to node %d\n", bproc_currnode());
	line(buf, sizeof buf);
	printf("got %s on node %d\n", buf, bproc_currnode());
	for (;;)
		pause();
}
