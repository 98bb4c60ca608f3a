/*
 * enq.c: writers creating jobs, as fast as close() lets them.
 *
 *	enq DIR N WRITERS PREFIX [TEXT]
 *		WRITERS threads create N files in all, DIR/PREFIX-W-I, each
 *		with open(O_CREAT|O_EXCL|O_WRONLY), one write of TEXT (default
 *		"true\n") and close. Prints one line:
 *		jobs/s close_p50_ms close_p99_ms trip_p50_ms trip_p99_ms secs
 *		where "close" is the close() call alone (on filed: the wait
 *		for the journal) and "trip" is create+write+close.
 *
 *	enq --latency DIR N FIFO PREFIX
 *		One writer, an idle queue: N times, wait 20 ms, then create
 *		DIR/PREFIX-I holding "#!ENQ --stamp" (ENQ being this program's
 *		absolute path), close it, and read from FIFO the time at which
 *		the job's first instruction ran. Prints:
 *		ret_p50_ms ret_p99_ms call_p50_ms call_p99_ms
 *		(ret: from close() returning; call: from close() being called).
 *
 *	enq --wait MS TIMEOUT PATH...
 *		Polls (stat every MS milliseconds) until every PATH exists;
 *		exits 1 if TIMEOUT seconds pass first. Quieter than a shell
 *		loop, which would fork.
 *
 *	enq --prio DIR N WRITERS PREFIX LO HI
 *		WRITERS threads queue N `true` jobs DIR/PREFIXi (i from 0),
 *		each as a user queues a job with a priority: a draft
 *		DIR/.PREFIXi created and written, user.filed.priority set to a
 *		pseudo-random value from LO to HI, and a rename to PREFIXi.
 *		Prints: jobs/s seconds.
 *
 *	enq --stamp [SCRIPT]
 *		The job side of --latency: writes CLOCK_MONOTONIC into the
 *		FIFO named by $BENCH_FIFO. filed runs it as "ENQ --stamp
 *		/dev/fd/3".
 */

#include <sys/stat.h>
#include <sys/xattr.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char	*dir, *prefix, *text = "true\n";
static long		 njobs, nwriters, prio_lo, prio_hi;
static double		*close_lat, *trip_lat;
static pthread_barrier_t barrier;

static void *
writer(void *arg)
{
	long	w = (long)arg, i, first, count;
	char	path[PATH_MAX];
	size_t	len = strlen(text);
	double	t0, t1;
	int	fd;

	count = njobs / nwriters + (w < njobs % nwriters);
	first = w * (njobs / nwriters) + (w < njobs % nwriters ? w :
	    njobs % nwriters);
	pthread_barrier_wait(&barrier);
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof path, "%s/%s-%ld-%ld", dir, prefix, w, i);
		t0 = now();
		if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644)) == -1)
			err(1, "open %s", path);
		if (len > 0 && write(fd, text, len) != (ssize_t)len)
			err(1, "write %s", path);
		t1 = now();
		if (close(fd) == -1)
			err(1, "close %s", path);
		close_lat[first + i] = now() - t1;
		trip_lat[first + i] = now() - t0;
	}
	return NULL;
}

/* A --prio writer: every nwriters-th job from arg, as a draft renamed. */
static void *
prio_writer(void *arg)
{
	char		 draft[PATH_MAX], path[PATH_MAX], v[16];
	unsigned long	 seed;
	long		 w = (long)arg, i;
	int		 fd, n;

	seed = 2654435761UL * (unsigned long)(w + 1);
	pthread_barrier_wait(&barrier);
	for (i = w; i < njobs; i += nwriters) {
		snprintf(draft, sizeof draft, "%s/.%s%ld", dir, prefix, i);
		snprintf(path, sizeof path, "%s/%s%ld", dir, prefix, i);
		if ((fd = open(draft, O_CREAT | O_EXCL | O_WRONLY, 0644)) == -1)
			err(1, "open %s", draft);
		if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
			err(1, "write %s", draft);
		if (close(fd) == -1)
			err(1, "close %s", draft);
		seed = seed * 1103515245UL + 12345UL;
		n = snprintf(v, sizeof v, "%ld", prio_lo + (long)((seed >> 16) %
		    (unsigned long)(prio_hi - prio_lo + 1)));
		if (setxattr(draft, "user.filed.priority", v, n, 0) == -1)
			err(1, "setxattr %s", draft);
		if (rename(draft, path) == -1)
			err(1, "rename %s", draft);
	}
	return NULL;
}

/*
 * Run nwriters threads of fn, started together at a barrier: the seconds
 * from the start to the last one's end.
 */
static double
run_writers(void *(*fn)(void *))
{
	pthread_t	*th;
	double		 t0, t1;
	long		 w;

	if ((th = calloc(nwriters, sizeof *th)) == NULL)
		err(1, "calloc");
	pthread_barrier_init(&barrier, NULL, nwriters + 1);
	for (w = 0; w < nwriters; w++)
		if ((errno = pthread_create(&th[w], NULL, fn, (void *)w)) != 0)
			err(1, "pthread_create");
	pthread_barrier_wait(&barrier);
	t0 = now();
	for (w = 0; w < nwriters; w++)
		pthread_join(th[w], NULL);
	t1 = now();
	free(th);
	pthread_barrier_destroy(&barrier);
	return t1 - t0;
}

/* enq --prio: queue jobs of pseudo-random priorities through drafts. */
static int
prio(int argc, char **argv)
{
	double	 t;

	if (argc != 8)
		errx(1, "usage: enq --prio DIR N WRITERS PREFIX LO HI");
	dir = argv[2];
	njobs = atol(argv[3]);
	nwriters = atol(argv[4]);
	prefix = argv[5];
	prio_lo = atol(argv[6]);
	prio_hi = atol(argv[7]);
	if (njobs < 1 || nwriters < 1 || nwriters > njobs || prio_hi < prio_lo)
		errx(1, "bad N, WRITERS, LO or HI");
	t = run_writers(prio_writer);
	printf("%.1f %.4f\n", njobs / t, t);
	return 0;
}

static int
stamp(void)
{
	struct timespec	 ts;
	const char	*fifo;
	char		 line[64];
	int		 fd, n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((fifo = getenv("BENCH_FIFO")) == NULL)
		errx(1, "BENCH_FIFO is not set");
	if ((fd = open(fifo, O_WRONLY)) == -1)
		err(1, "%s", fifo);
	n = snprintf(line, sizeof line, "%lld.%09ld\n", (long long)ts.tv_sec,
	    ts.tv_nsec);
	if (write(fd, line, n) != n)
		err(1, "write %s", fifo);
	return 0;
}

static int
latency(int argc, char **argv)
{
	char		 self[PATH_MAX], body[PATH_MAX + 32], path[PATH_MAX];
	char		 line[64];
	double		*ret, *call, t1, t2, s;
	struct pollfd	 pfd;
	ssize_t		 len, got;
	long		 n, i;
	int		 fifo, fd;

	if (argc != 6)
		errx(1, "usage: enq --latency DIR N FIFO PREFIX");
	dir = argv[2];
	n = atol(argv[3]);
	prefix = argv[5];
	if (n < 1)
		errx(1, "bad N");
	if ((len = readlink("/proc/self/exe", self, sizeof self - 1)) == -1)
		err(1, "readlink");
	self[len] = '\0';
	snprintf(body, sizeof body, "#!%s --stamp\n", self);
	ret = calloc(n, sizeof *ret);
	call = calloc(n, sizeof *call);
	if (ret == NULL || call == NULL)
		err(1, "calloc");
	/* O_RDWR: the open does not wait for a writer, reads never see EOF. */
	if ((fifo = open(argv[4], O_RDWR)) == -1)
		err(1, "%s", argv[4]);
	for (i = 0; i < n; i++) {
		usleep(20000);
		snprintf(path, sizeof path, "%s/%s-%ld", dir, prefix, i);
		if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644)) == -1)
			err(1, "open %s", path);
		if (write(fd, body, strlen(body)) != (ssize_t)strlen(body))
			err(1, "write %s", path);
		t1 = now();
		if (close(fd) == -1)
			err(1, "close %s", path);
		t2 = now();
		pfd.fd = fifo;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1)
			errx(1, "job %s did not start within 10 s", path);
		if ((got = read(fifo, line, sizeof line - 1)) <= 0)
			err(1, "read fifo");
		line[got] = '\0';
		s = strtod(line, NULL);
		ret[i] = s - t2;
		call[i] = s - t1;
	}
	qsort(ret, n, sizeof *ret, cmp);
	qsort(call, n, sizeof *call, cmp);
	printf("%.3f %.3f %.3f %.3f\n", pct(ret, n, 50) * 1e3,
	    pct(ret, n, 99) * 1e3, pct(call, n, 50) * 1e3,
	    pct(call, n, 99) * 1e3);
	free(ret);
	free(call);
	return 0;
}

static int
waitfor(int argc, char **argv)
{
	struct stat	st;
	double		limit;
	long		ms;
	int		i;

	if (argc < 5)
		errx(1, "usage: enq --wait MS TIMEOUT PATH...");
	ms = atol(argv[2]);
	limit = now() + atof(argv[3]);
	for (i = 4; i < argc; i++)
		while (stat(argv[i], &st) == -1) {
			if (now() > limit)
				errx(1, "%s: not there after %s s", argv[i],
				    argv[3]);
			usleep(ms * 1000);
		}
	return 0;
}

int
main(int argc, char **argv)
{
	double	 t;

	if (argc >= 2 && strcmp(argv[1], "--stamp") == 0)
		return stamp();
	if (argc >= 2 && strcmp(argv[1], "--wait") == 0)
		return waitfor(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "--latency") == 0)
		return latency(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "--prio") == 0)
		return prio(argc, argv);
	if (argc != 5 && argc != 6)
		errx(1, "usage: enq DIR N WRITERS PREFIX [TEXT]");
	dir = argv[1];
	njobs = atol(argv[2]);
	nwriters = atol(argv[3]);
	prefix = argv[4];
	if (argc == 6)
		text = argv[5];
	if (njobs < 1 || nwriters < 1 || nwriters > njobs)
		errx(1, "bad N or WRITERS");
	close_lat = calloc(njobs, sizeof *close_lat);
	trip_lat = calloc(njobs, sizeof *trip_lat);
	if (close_lat == NULL || trip_lat == NULL)
		err(1, "calloc");
	t = run_writers(writer);
	qsort(close_lat, njobs, sizeof *close_lat, cmp);
	qsort(trip_lat, njobs, sizeof *trip_lat, cmp);
	printf("%.1f %.3f %.3f %.3f %.3f %.4f\n", njobs / t,
	    pct(close_lat, njobs, 50) * 1e3, pct(close_lat, njobs, 99) * 1e3,
	    pct(trip_lat, njobs, 50) * 1e3, pct(trip_lat, njobs, 99) * 1e3, t);
	free(close_lat);
	free(trip_lat);
	return 0;
}
