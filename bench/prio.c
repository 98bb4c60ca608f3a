/*
 * prio.c: choosing the next job with many pending jobs of mixed
 * priorities.
 *
 *	prio N [LEVELS]
 *
 * Through the state machine alone (records applied as replay applies
 * them: no journal, no mount, no processes), N drafts each get a priority
 * from -100 to 100 (pseudo-random, LEVELS distinct values, default 201)
 * and are queued by a rename, as a user queues a draft. Then every job is
 * started in turn: queue_next_ready() chooses it and its "start" record
 * takes it off the run queue. Prints the time queue_next_ready() took per
 * choice (median, 99th percentile, worst, the mean over the first 1,000
 * choices, made while the queue is full, and over all), and checks the
 * order: the priority never rises, and within one priority the jobs come
 * in the order they were queued.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "filed.h"

/* Apply one record body as replay does; exit on a refusal. */
static void
apply(const char *body)
{
	struct rec	 r;
	const char	*why;
	char		*copy;

	copy = xstrdup(body);
	if (rec_parse_body(copy, strlen(copy), &r, &why) != 0 ||
	    queue_replay(NULL, &r, &why) != 0)
		fatalx("%s: %s", body, why);
	free(copy);
}

int
main(int argc, char **argv)
{
	struct job	*job;
	double		*took, t0, sum = 0, first = 0;
	char		 rec[256];
	unsigned long	 n, i, levels = 201, seed = 1;
	int		 prio, lastprio = POL_PRIO_MAX + 1;
	uint64_t	 lastid = 0;

	if (argc < 2 || argc > 3)
		fatalx("usage: prio N [LEVELS]");
	n = strtoul(argv[1], NULL, 10);
	if (argc == 3)
		levels = strtoul(argv[2], NULL, 10);
	if (n == 0 || levels == 0 || levels > 201)
		fatalx("N > 0, LEVELS 1..201");
	log_init(0);
	queue_init(1 << 20);
	for (i = 1; i <= n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		prio = POL_PRIO_MIN + (int)((seed >> 33) % levels) *
		    (levels > 1 ? 200 / (int)(levels - 1) : 0);
		snprintf(rec, sizeof rec, "new id=%lu name=.j%lu uid=0 gid=0 "
		    "time=%lu text=true", i, i, i);
		apply(rec);
		snprintf(rec, sizeof rec, "policy id=%lu key=priority "
		    "value=%d", i, prio);
		apply(rec);
		snprintf(rec, sizeof rec, "name id=%lu name=j%lu time=%lu", i,
		    i, i);
		apply(rec);
	}
	took = xcalloc(n, sizeof *took);
	for (i = 0; i < n; i++) {
		t0 = now();
		job = queue_next_ready();
		took[i] = now() - t0;
		sum += took[i];
		if (i < 1000)
			first += took[i];
		if (job == NULL)
			fatalx("no job at choice %lu", i);
		prio = policy_priority(job->live->policy);
		if (prio > lastprio || (prio == lastprio && job->id < lastid))
			fatalx("out of order at choice %lu", i);
		lastprio = prio;
		lastid = job->id;
		snprintf(rec, sizeof rec, "start id=%llu attempt=1 pid=1 "
		    "pst=1 off=0 time=%lu", (unsigned long long)job->id,
		    n + i);
		apply(rec);
	}
	if (queue_next_ready() != NULL)
		fatalx("jobs left on the run queue");
	qsort(took, n, sizeof *took, cmp);
	printf("jobs             %lu pending, %lu priority levels\n", n,
	    levels);
	printf("next job         median %.0f ns, p99 %.0f ns, worst %.0f "
	    "ns\n", pct(took, (long)n, 50) * 1e9, pct(took, (long)n, 99) * 1e9,
	    took[n - 1] * 1e9);
	printf("mean             %.0f ns over the first %lu choices, %.0f ns "
	    "over all\n", first / (n < 1000 ? n : 1000) * 1e9,
	    n < 1000 ? n : 1000, sum / n * 1e9);
	printf("tsv\t%lu\t%lu\t%.0f\t%.0f\t%.0f\n", n, levels,
	    pct(took, (long)n, 50) * 1e9, pct(took, (long)n, 99) * 1e9,
	    sum / n * 1e9);
	free(took);
	queue_free();
	return 0;
}
