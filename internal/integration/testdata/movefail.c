/* movefail: the errors of bproc_move, each leaving the process where it
 * was, with its memory. movefail NODE MB: fills MB megabytes, says
 * "moving", moves to NODE, and when that fails checks its memory and says
 * "refused: TEXT (errno N), memory intact" and exits 0; a move that works
 * says "moved" and exits 3 on the node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bproc.h"
#include "move.h"

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3)
		return 2;
	int node = atoi(argv[1]);
	size_t n = (size_t)atol(argv[2]) << 20;
	unsigned char *buf = malloc(n);
	if (buf == NULL)
		return 2;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	printf("moving\n");
	if (bproc_move(node) == 0) {
		printf("moved\n");
		_exit(3);
	}
	int e = errno;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (unsigned char)(i * 31 + 7)) {
			printf("refused: %s, memory differs at %zu\n", bproc_strerror(e), i);
			return 1;
		}
	printf("refused: %s (errno %d), memory intact\n", bproc_strerror(e), e);
	return 0;
}
