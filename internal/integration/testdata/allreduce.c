/* An MPI job for bpsh --pmi: every rank adds its rank + 1, and says the
 * sum, which is size * (size + 1) / 2 when the ranks reached each other.
 * With ALLREDUCE_HANG_RANK=r, rank r sleeps before the reduction (for a
 * test that kills it), and the others wait for it in MPI_Allreduce. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rank, size, mine, sum = 0;
	const char *hang = getenv("ALLREDUCE_HANG_RANK");

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (hang && atoi(hang) == rank) {
		printf("rank %d hanging, pid %d\n", rank, (int)getpid());
		fflush(stdout);
		sleep(600);
	}
	mine = rank + 1;
	MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	printf("rank %d of %d: sum %d\n", rank, size, sum);
	MPI_Finalize();
	return sum == size * (size + 1) / 2 ? 0 : 1;
}
