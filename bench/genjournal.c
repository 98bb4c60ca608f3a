/*
 * genjournal.c: write a synthetic journal for the replay benchmark.
 *
 *	genjournal PATH LIVE GONE
 *
 * LIVE jobs that each ran four attempts (three failures, then success:
 * 1 + 8 records each) and GONE jobs created and removed (2 records each).
 * With LIVE 100000 and GONE 50000 that is 1,000,000 records describing
 * 100,000 live jobs.
 *
 *	genjournal -p FILE STOPFILE
 *
 * The stall probe: stat(2) FILE (a file of a mount) every millisecond
 * until STOPFILE exists, then print the longest stat in milliseconds and the
 * number of stats, as "MAX_MS COUNT".
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

static FILE		*out;
static uint64_t		 seq;
static struct buf	 line;

/* Frame one body and write it. */
static void
emit(struct buf *body)
{
	buf_reset(&line);
	rec_frame(&line, ++seq, body->data, body->len);
	if (fwrite(line.data, 1, line.len, out) != line.len)
		fatal("write");
	buf_reset(body);
}

/* Return CLOCK_MONOTONIC in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* The stall probe: the longest stat of file until stop exists. */
static int
probe(const char *file, const char *stop)
{
	struct stat	st;
	struct timespec	ms = { 0, 1000000 };
	uint64_t	t0, t1, max = 0, n = 0;

	for (;;) {
		t0 = now_ns();
		if (stat(file, &st) == -1)
			fatal("%s", file);
		t1 = now_ns();
		if (t1 - t0 > max)
			max = t1 - t0;
		n++;
		if ((n & 63) == 0 && access(stop, F_OK) == 0)
			break;
		nanosleep(&ms, NULL);
	}
	printf("%.3f %llu\n", (double)max / 1e6, (unsigned long long)n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct buf	 b;
	uint64_t	 live, gone, id, i;
	int64_t		 t = 1795000000000000000LL;
	char		 name[64];
	unsigned	 a;

	if (argc == 4 && strcmp(argv[1], "-p") == 0)
		return probe(argv[2], argv[3]);
	if (argc != 4)
		fatalx("usage: genjournal PATH LIVE GONE | -p FILE STOPFILE");
	live = strtoull(argv[2], NULL, 10);
	gone = strtoull(argv[3], NULL, 10);
	if ((out = fopen(argv[1], "w")) == NULL)
		fatal("%s", argv[1]);
	fputs("filed-journal 1\n", out);
	buf_init(&b);
	buf_init(&line);
	for (id = 1, i = 0; i < live + gone; i++, id++) {
		snprintf(name, sizeof name, "job-%llu", (unsigned long long)id);
		rec_begin(&b, "new");
		rec_add_u64(&b, "id", id);
		rec_add_str(&b, "name", name);
		rec_add_u64(&b, "uid", 0);
		rec_add_u64(&b, "gid", 0);
		rec_add_i64(&b, "time", t++);
		rec_add_str(&b, "text", "curl -fsS https://example.invalid/hook\n");
		emit(&b);
		if (i % 3 == 2 && gone > 0 && i / 3 < gone) {
			rec_begin(&b, "rm");
			rec_add_u64(&b, "id", id);
			rec_add_i64(&b, "time", t++);
			emit(&b);
			continue;
		}
		for (a = 1; a <= 4; a++) {
			rec_begin(&b, "start");
			rec_add_u64(&b, "id", id);
			rec_add_u64(&b, "attempt", a);
			rec_add_u64(&b, "pid", 1000 + a);
			rec_add_u64(&b, "pst", 0);
			rec_add_u64(&b, "off", (a - 1) * 20);
			rec_add_i64(&b, "time", t++);
			emit(&b);
			rec_begin(&b, "end");
			rec_add_u64(&b, "id", id);
			rec_add_u64(&b, "attempt", a);
			rec_add_str(&b, "how", "exit");
			rec_add_i64(&b, "status", a == 4 ? 0 : 7);
			rec_add_i64(&b, "signal", 0);
			rec_add_u64(&b, "end", a * 20);
			rec_add_i64(&b, "eol", 1);
			rec_add_i64(&b, "time", t++);
			rec_add_str(&b, "next", a == 4 ? "complete" : "pending");
			if (a != 4)
				rec_add_i64(&b, "retry_at", 1);
			emit(&b);
		}
	}
	if (fclose(out) != 0)
		fatal("%s", argv[1]);
	printf("%llu records\n", (unsigned long long)seq);
	buf_free(&b);
	buf_free(&line);
	return 0;
}
