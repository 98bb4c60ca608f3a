/*
 * bench.h: what the benchmark programs share: a monotonic clock in
 * seconds, and percentiles of a set of latencies.
 */

#ifndef BENCH_H
#define BENCH_H

#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* qsort's comparison of two doubles. */
static inline int
cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (0 < p <= 100) of n sorted values. */
static inline double
pct(const double *v, long n, double p)
{
	long	i = (long)((p / 100.0) * n + 0.999999) - 1;

	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

#endif /* BENCH_H */
