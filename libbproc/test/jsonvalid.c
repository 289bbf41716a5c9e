/*
 * jsonvalid.c: libbproc's JSON parser as a filter, so that a Go test can
 * hold it against encoding/json. Reads records (a 4-byte little-endian
 * length, then the bytes) from stdin and writes one byte per record: '1'
 * if the parser accepts it, '0' if not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int main(void)
{
	unsigned char hdr[4];
	while (fread(hdr, 1, 4, stdin) == 4) {
		size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
		/* Exactly n bytes, so that a read past them is the sanitizer's. */
		char *buf = malloc(n ? n : 1);
		if (buf == NULL || fread(buf, 1, n, stdin) != n)
			return 2;
		struct bpi_json j;
		int ok = bpi_json_parse(&j, buf, n) == 0;
		if (ok)
			bpi_json_free(&j);
		putchar(ok ? '1' : '0');
		free(buf);
	}
	return 0;
}
