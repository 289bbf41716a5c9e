/*
 * pmi2ring: a client of the PMI-2 wire protocol that no one here wrote
 * (Slurm's libpmi2, Debian's libpmi2-0-dev): each rank puts a key, fences,
 * and reads its neighbour's.
 */
#include <slurm/pmi2.h>
#include <stdio.h>

int main(void)
{
	int spawned, size, rank, appnum, len, peer;
	char jobid[256], key[64], val[64], got[64];

	if (PMI2_Init(&spawned, &size, &rank, &appnum) != PMI2_SUCCESS) {
		fprintf(stderr, "PMI2_Init failed\n");
		return 1;
	}
	if (PMI2_Job_GetId(jobid, sizeof jobid) != PMI2_SUCCESS) {
		fprintf(stderr, "PMI2_Job_GetId failed\n");
		return 1;
	}
	snprintf(key, sizeof key, "key%d", rank);
	snprintf(val, sizeof val, "value%d", rank * 10);
	if (PMI2_KVS_Put(key, val) != PMI2_SUCCESS || PMI2_KVS_Fence() != PMI2_SUCCESS) {
		fprintf(stderr, "rank %d: put or fence failed\n", rank);
		return 1;
	}
	peer = (rank + 1) % size;
	snprintf(key, sizeof key, "key%d", peer);
	if (PMI2_KVS_Get(jobid, PMI2_ID_NULL, key, got, sizeof got, &len) != PMI2_SUCCESS) {
		fprintf(stderr, "rank %d: get %s failed\n", rank, key);
		return 1;
	}
	printf("rank %d of %d: %s=%s\n", rank, size, key, got);
	fflush(stdout);
	PMI2_Finalize();
	return 0;
}
