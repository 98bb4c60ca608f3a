/*
 * fsync.c: the disk's limit for durable appends.
 *
 *	fsync PATH N
 *
 * Appends a 100-byte record to PATH and fdatasyncs it, N times (after one
 * untimed warm-up). Prints "syncs/s p50_ms p99_ms".
 */

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int
main(int argc, char **argv)
{
	char	 rec[100];
	double	*lat, t0, t1, t;
	long	 n, i;
	int	 fd;

	if (argc != 3)
		errx(1, "usage: fsync PATH N");
	n = atol(argv[2]);
	if (n < 1 || (lat = calloc(n, sizeof *lat)) == NULL)
		errx(1, "bad N");
	memset(rec, 'x', sizeof rec);
	rec[sizeof rec - 1] = '\n';
	if ((fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC,
	    0600)) == -1)
		err(1, "%s", argv[1]);
	if (write(fd, rec, sizeof rec) != sizeof rec || fdatasync(fd) == -1)
		err(1, "warm-up");
	t0 = now();
	for (i = 0; i < n; i++) {
		t = now();
		if (write(fd, rec, sizeof rec) != sizeof rec)
			err(1, "write");
		if (fdatasync(fd) == -1)
			err(1, "fdatasync");
		lat[i] = now() - t;
	}
	t1 = now();
	close(fd);
	qsort(lat, n, sizeof *lat, cmp);
	printf("%.1f %.3f %.3f\n", n / (t1 - t0), pct(lat, n, 50) * 1e3,
	    pct(lat, n, 99) * 1e3);
	free(lat);
	return 0;
}
