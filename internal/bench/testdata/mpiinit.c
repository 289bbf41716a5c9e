/*
 * mpiinit: each rank says when it has passed MPI_Init (CLOCK_REALTIME,
 * which namespace nodes share with the master), then leaves without
 * MPI_Finalize: what is timed is the launch and the PMI exchange, and
 * Debian 12's MPICH can hang in MPI_Finalize across nodes. The barrier
 * first: a rank that left while another was still connecting to it
 * (UCX's initial address exchange) would fail that one's MPI_Init.
 */
#include <mpi.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	int rank;

	MPI_Init(&argc, &argv);
	clock_gettime(CLOCK_REALTIME, &ts);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	printf("init %d %lld.%09ld\n", rank, (long long)ts.tv_sec, ts.tv_nsec);
	fflush(stdout);
	MPI_Barrier(MPI_COMM_WORLD);
	_exit(0);
}
