/*
 * unit-queue.c: the state machine without a mount. Records are applied as
 * replay applies them; the snapshot that compaction writes must recreate
 * the same state, and records that do not fit the state are refused.
 * A finished job keeps only what it shows (its last attempt, packed, and
 * no live part); what it shows must be the same before and after a
 * snapshot, and a snapshot written before jobs were packed still replays.
 * Last, the hash tables with many jobs, and the pool that jobs come from.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filed.h"
#include "tap.h"

/* Apply one record body as replay would; return 0 or -1. */
static int
apply(const char *body)
{
	struct rec	 r;
	const char	*why;
	char		*copy;
	int		 rv;

	copy = xstrdup(body);
	if (rec_parse_body(copy, strlen(copy), &r, &why) != 0) {
		printf("# parse: %s: %s\n", body, why);
		free(copy);
		return -1;
	}
	rv = queue_replay(NULL, &r, &why);
	if (rv != 0)
		printf("# refused: %s: %s\n", body, why);
	free(copy);
	return rv;
}

/* What a user sees of a job: its attributes and its file's contents. */
static char *
shows(const char *name)
{
	struct job	*job = queue_by_name(name);
	struct buf	 b, names, v;
	struct view	 view;
	const char	*n;
	size_t		 i;

	if (job == NULL)
		return xstrdup("absent");
	buf_init(&b);
	buf_init(&names);
	buf_init(&v);
	buf_printf(&b, "%s in %d, %llu bytes:", job->name, queue_dir_of(job),
	    (unsigned long long)job->textlen);
	xattr_list(job, &names);
	for (n = names.data; n != NULL && n < names.data + names.len;
	    n += strlen(n) + 1) {
		buf_reset(&v);
		if (xattr_get(job, n, &v) != 0)
			buf_adds(&v, "?");
		buf_printf(&b, " %s=%s", n, v.data);
	}
	view_build(&view, job, 0, job->state == JOB_FAILED, 1000);
	for (i = 0; i < view.nseg; i++) {
		if (view.seg[i].mem)
			buf_printf(&b, " \"%.*s\"", (int)view.seg[i].len,
			    view.marks.data + view.seg[i].off);
		else
			buf_printf(&b, " log[%llu+%llu]",
			    (unsigned long long)view.seg[i].off,
			    (unsigned long long)view.seg[i].len);
	}
	buf_printf(&b, " size %llu", (unsigned long long)view.size);
	view_free(&view);
	buf_free(&names);
	buf_free(&v);
	return b.data;
}

/* Replay every line of a snapshot into a fresh queue. */
static int
replay_snapshot(const struct buf *snap)
{
	char	*copy, *line, *nl;
	int	 rv = 0;

	copy = xstrndup(snap->data, snap->len);
	for (line = copy; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		*nl = '\0';
		if (apply(line) != 0)
			rv = -1;
	}
	free(copy);
	return rv;
}

/* Run attempts 1..n of job id, each failing but the last (if done). */
static int
attempts(uint64_t id, unsigned n, const char *last)
{
	char		 rec[256];
	unsigned	 k;
	int		 rv = 0;

	for (k = 1; k <= n; k++) {
		snprintf(rec, sizeof rec, "start id=%llu attempt=%u pid=%u "
		    "pst=%u off=%u time=%llu", (unsigned long long)id, k,
		    100 + k, 900 + k, (k - 1) * 10,
		    (unsigned long long)(id * 1000 + 2 * k));
		rv |= apply(rec);
		if (k < n)
			snprintf(rec, sizeof rec, "end id=%llu attempt=%u "
			    "how=exit status=3 signal=0 end=%u eol=%d "
			    "time=%llu next=pending retry_at=0",
			    (unsigned long long)id, k, k * 10 - 2, k != 2,
			    (unsigned long long)(id * 1000 + 2 * k + 1));
		else
			snprintf(rec, sizeof rec, "end id=%llu attempt=%u %s "
			    "end=%u time=%llu", (unsigned long long)id, k,
			    last, k * 10 - 4,
			    (unsigned long long)(id * 1000 + 2 * k + 1));
		rv |= apply(rec);
	}
	return rv;
}

static const char *finished[] = { "done", "once", "twice", "cancelled",
    "odd", "old", "later", NULL };

/* Record what each job of finished[] shows. */
static void
shows_all(char **out)
{
	int	i;

	for (i = 0; finished[i] != NULL; i++)
		out[i] = shows(finished[i]);
}

/*
 * The records of jobs being written (new open=1, queue, draft, a start
 * that queues), of drafts (new draft=1, name over=), of chmod/chown of a
 * job (attr id=), of the boot, and the order of interrupted jobs; each
 * survives a snapshot, and what does not fit the state is refused.
 */
static void
test_records(void)
{
	struct buf	 a, b;
	struct job	*job = NULL;

	queue_init(1 << 20);
	ok(apply("boot id=11111111-aaaa") == 0, "a boot record");
	ok(apply("new id=1 name=w uid=5 gid=6 time=1 open=1 text=echo\\s1") == 0 &&
	    (job = queue_by_name("w")) != NULL && job->state == JOB_DRAFT &&
	    job->unreleased && queue_next_ready() == NULL,
	    "a job saved while its creator writes is a draft, not queued");
	ok(apply("text id=1 time=2 text=echo\\s12") == 0 &&
	    (job = queue_by_name("w")) != NULL &&
	    strcmp(queue_text(job), "echo 12") == 0,
	    "its later text replaces the first");
	ok(apply("queue id=1 time=3") == 0 && job != NULL &&
	    job->state == JOB_PENDING &&
	    !job->unreleased && queue_next_ready() == job,
	    "once its creator lets go, it is queued");
	ok(apply("queue id=1 time=3") != 0, "a second queue record is refused");
	ok(apply("new id=2 name=x uid=0 gid=0 time=4 open=1 text=a") == 0 &&
	    apply("draft id=2 time=5") == 0 &&
	    (job = queue_by_name("x")) != NULL && job->state == JOB_DRAFT &&
	    !job->unreleased, "one whose creator never let go stays a draft");
	ok(apply("queue id=2 time=6") != 0 &&
	    apply("start id=2 attempt=1 pid=1 pst=1 off=0 time=6") != 0,
	    "a plain draft cannot be queued or started");
	ok(apply("new id=3 name=y uid=0 gid=0 time=7 open=1 text=b") == 0 &&
	    apply("start id=3 attempt=1 pid=42 pst=420 off=0 time=8") == 0 &&
	    (job = queue_by_name("y")) != NULL && job->state == JOB_ACTIVE &&
	    job->live->pid == 42, "a start queues a job being written");
	ok(job != NULL && queue_same_boot(job, "11111111-aaaa") == 1 &&
	    queue_same_boot(job, "22222222-bbbb") == 0,
	    "it started in the boot the journal named last");
	ok(apply("new id=4 name=sedTMP uid=0 gid=0 time=9 draft=1 text=new") == 0 &&
	    (job = queue_by_name("sedTMP")) != NULL && job->state == JOB_DRAFT,
	    "a temporary file is a draft whatever its name");
	ok(apply("new id=5 name=.d uid=0 gid=0 time=9 text=old") == 0 &&
	    apply("name id=4 name=.d over=5 time=10") == 0 &&
	    (job = queue_by_name(".d")) != NULL && job->id == 4 &&
	    strcmp(queue_text(job), "new") == 0 && queue_by_id(5) == NULL,
	    "renamed over a draft, it replaces it");
	ok(apply("new id=6 name=.e uid=0 gid=0 time=9 text=e") == 0 &&
	    apply("new id=7 name=vis uid=0 gid=0 time=9 draft=1 text=v") == 0 &&
	    apply("name id=7 name=w over=1 time=11") != 0 &&
	    apply("name id=6 name=y over=3 time=11") != 0,
	    "only a draft replaces, and only a draft");
	ok(apply("name id=7 name=vis2 time=12") == 0 &&
	    queue_by_name("vis2")->state == JOB_PENDING,
	    "a draft renamed to a visible name is queued");
	ok(apply("attr id=1 mode=384 uid=9 gid=8 grp=1") == 0 &&
	    (job = queue_by_name("w")) != NULL && job->mode == 0600 &&
	    job->uid == 9 && job->gid == 8 && job->grpset,
	    "chmod and chown of a job");
	ok(apply("attr id=1 mode=292") == 0 && job != NULL &&
	    job->mode == 0444 &&
	    job->uid == 9, "a chmod keeps the owner");
	ok(apply("new id=8 name=one uid=0 gid=0 time=20 text=1") == 0 &&
	    apply("new id=9 name=two uid=0 gid=0 time=20 text=2") == 0 &&
	    apply("start id=8 attempt=1 pid=80 pst=1 off=0 time=21") == 0 &&
	    apply("start id=9 attempt=1 pid=90 pst=1 off=0 time=22") == 0 &&
	    apply("end id=9 attempt=1 how=interrupted status=0 signal=0 "
	    "end=0 eol=1 time=23 next=pending retry_at=0") == 0 &&
	    apply("end id=8 attempt=1 how=interrupted status=0 signal=0 "
	    "end=0 eol=1 time=24 next=pending retry_at=0") == 0 &&
	    queue_next_ready() == queue_by_name("one"),
	    "interrupted jobs run first, in the order they had started");
	ok(apply("new id=10 name=w2 uid=0 gid=0 time=30 open=1 text=c") == 0,
	    "a job being written, at the snapshot");

	buf_init(&a);
	buf_init(&b);
	queue_snapshot(NULL, &a);
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0, "the snapshot replays");
	queue_snapshot(NULL, &b);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and writes the same snapshot");
	job = queue_by_name("w2");
	ok(job != NULL && job->state == JOB_DRAFT && job->unreleased &&
	    apply("queue id=10 time=31") == 0 && job->state == JOB_PENDING,
	    "a job being written still is, and its queue record applies");
	job = queue_by_name("w");
	ok(job != NULL && job->mode == 0444 && job->uid == 9 &&
	    job->gid == 8 && job->grpset, "mode, owner and group are kept");
	job = queue_by_name("y");
	ok(job != NULL && queue_same_boot(job, "11111111-aaaa") == 1,
	    "a running attempt keeps its boot");
	ok(queue_next_ready() == queue_by_name("one") &&
	    apply("new id=11 name=three uid=0 gid=0 time=40 text=3") == 0 &&
	    apply("start id=11 attempt=1 pid=110 pst=1 off=0 time=19") == 0 &&
	    apply("end id=11 attempt=1 how=interrupted status=0 signal=0 "
	    "end=0 eol=1 time=41 next=pending retry_at=0") == 0 &&
	    queue_next_ready() == queue_by_name("three"),
	    "the head of interrupted jobs is kept, and sorted by start");
	ok(apply("new id=12 name=old uid=0 gid=0 time=50 text=o") == 0 &&
	    apply("start id=12 attempt=1 pid=120 pst=1 off=0 time=51") == 0,
	    "an attempt started before a boot record");
	buf_free(&a);
	buf_free(&b);
	queue_free();

	queue_init(1 << 20);
	ok(apply("new id=1 name=old uid=0 gid=0 time=1 text=o") == 0 &&
	    apply("start id=1 attempt=1 pid=10 pst=1 off=0 time=2") == 0 &&
	    queue_same_boot(queue_by_name("old"), "11111111-aaaa") == -1,
	    "a journal without boot records: the boot is unknown");
	queue_free();
}

/* Finished jobs: packed, without a live part, the same after a snapshot. */
static void
test_finished(void)
{
	struct buf	 a, b;
	struct job	*job;
	struct attempt	 at;
	char		*before[8], *after[8];
	int		 i, same;

	queue_init(1 << 20);
	ok(apply("new id=1 name=done uid=7 gid=8 time=1000 text=true") == 0 &&
	    attempts(1, 4, "how=exit status=0 signal=0 eol=1 "
	    "next=complete") == 0, "done: three failures, then complete");
	job = queue_by_name("done");
	ok(job->packed && job->live == NULL && job->natt == 4,
	    "done keeps its last attempt only, and no live part");
	ok(queue_attempt(job, 4, &at) == 0 && at.started == 1008 &&
	    at.ended == 1009 && at.off == 30 && at.end == 36 &&
	    at.how == HOW_EXIT && at.status == 0 && at.eol == 1,
	    "its last attempt is whole, its end time is the job's mtime");
	ok(queue_attempt(job, 3, &at) != 0, "its earlier ones are not kept");
	ok(strcmp(queue_text(job), "true") == 0 && job->textlen == 4 &&
	    queue_text(job)[4] == '\0', "its text follows its name");

	ok(apply("new id=2 name=once uid=0 gid=0 time=2000 text=kill\\s$$") ==
	    0 && attempts(2, 1, "how=signal status=0 signal=9 eol=0 "
	    "next=failed") == 0, "once: killed at its only attempt");
	job = queue_by_name("once");
	ok(job->packed && job->live == NULL,
	    "a job failed after one attempt is packed too");
	ok(apply("new id=3 name=twice uid=0 gid=0 time=3000 text=false") ==
	    0 && attempts(3, 2, "how=timeout status=0 signal=15 eol=1 "
	    "next=failed") == 0, "twice: failed after two attempts");
	job = queue_by_name("twice");
	ok(!job->packed && job->live == NULL && job->natt == 2,
	    "a failed job keeps every attempt it shows");

	ok(apply("new id=4 name=cancelled uid=0 gid=0 time=4000 "
	    "text=sleep\\s9") == 0 &&
	    apply("start id=4 attempt=1 pid=5 pst=6 off=0 time=4001") == 0 &&
	    apply("move id=4 to=failed name=cancelled time=4002") == 0 &&
	    apply("end id=4 attempt=1 how=signal status=0 signal=15 end=7 "
	    "eol=0 time=4003") == 0, "cancelled, then its end recorded");
	job = queue_by_name("cancelled");
	ok(!job->packed && queue_attempt(job, 1, &at) == 0 &&
	    at.how == HOW_CANCELLED && at.ended == 4003 && at.end == 7 &&
	    job->mtime == 4002,
	    "an attempt that did not end at mtime is kept as it is");

	ok(apply("new id=5 name=odd uid=0 gid=0 time=5000 text=x") == 0 &&
	    attempts(5, 1, "how=exit status=300 signal=0 eol=1 "
	    "next=complete") == 0, "odd: a status no process has");
	job = queue_by_name("odd");
	ok(!job->packed && queue_attempt(job, 1, &at) == 0 &&
	    at.status == 300, "is kept as it is");

	/* A snapshot as filed wrote it before jobs were packed. */
	ok(apply("job id=6 name=old state=complete uid=3 gid=4 ctime=10 "
	    "time=50 retry_at=0 pid=1234 pst=99 "
	    "att=11:20:0:5:1:7:0:1,21:30:5:9:2:0:9:0,31:50:9:12:1:0:0:1 "
	    "text=echo\\sold") == 0, "an old snapshot's job with every "
	    "attempt replays");
	job = queue_by_name("old");
	ok(job->packed && job->live == NULL && job->natt == 3 &&
	    queue_attempt(job, 3, &at) == 0 && at.started == 31 &&
	    at.off == 9 && at.end == 12, "and is packed");

	ok(apply("new id=7 name=later uid=0 gid=0 time=7000 text=y") == 0 &&
	    attempts(7, 2, "how=exit status=0 signal=0 eol=1 next=complete")
	    == 0, "later: completes at its second attempt");
	job = queue_by_name("later");
	ok(job->packed, "and is packed");
	ok(apply("end id=7 attempt=2 how=exit status=4 signal=0 end=20 eol=0 "
	    "time=7777") == 0, "a late end record for its last attempt");
	ok(!job->packed && queue_attempt(job, 2, &at) == 0 &&
	    at.status == 4 && at.ended == 7777 && at.end == 20 &&
	    queue_attempt(job, 1, &at) == 0 && at.started == 0,
	    "unpacks it: the earlier attempt reads as zeros");

	ok(apply("new id=8 name=waiting uid=0 gid=0 time=8000 text=z") == 0 &&
	    apply("start id=8 attempt=1 pid=5 pst=6 off=0 time=8001") == 0 &&
	    apply("end id=8 attempt=1 how=exit status=1 signal=0 end=0 "
	    "eol=1 time=8002 next=pending retry_at=9000") == 0,
	    "waiting: waits to retry");
	job = queue_by_name("waiting");
	ok(job->live != NULL && job->live->retry_at == 9000 &&
	    job->live->pst == 6, "a waiting job has its live part");

	shows_all(before);
	is_str(before[0], "done in 5, 4 bytes: user.filed.id=1 "
	    "user.filed.state=complete user.filed.attempts=4 "
	    "user.filed.uid=7 user.filed.created=1970-01-01T00:00:00Z "
	    "user.filed.changed=1970-01-01T00:00:00Z "
	    "user.filed.started=1970-01-01T00:00:00Z "
	    "user.filed.ended=1970-01-01T00:00:00Z "
	    "user.filed.duration=0.000 user.filed.reason=exit "
	    "user.filed.exit=0 "
	    "log[30+6] size 6", "complete/done shows its last attempt");
	is_str(before[1], "once in 4, 7 bytes: user.filed.id=2 "
	    "user.filed.state=failed user.filed.attempts=1 "
	    "user.filed.uid=0 user.filed.created=1970-01-01T00:00:00Z "
	    "user.filed.changed=1970-01-01T00:00:00Z "
	    "user.filed.started=1970-01-01T00:00:00Z "
	    "user.filed.ended=1970-01-01T00:00:00Z "
	    "user.filed.duration=0.000 user.filed.reason=signal "
	    "user.filed.signal=SIGKILL "
	    "\"=== filed: attempt 1: killed by signal 9 (SIGKILL) ===\n\" "
	    "log[0+6] size 61", "failed/once shows its attempt and marker");
	ok(strstr(before[2], "attempt 1: exited with status 3 ===\n\" "
	    "log[0+8] \"=== filed: attempt 2: timed out (killed by "
	    "signal 15) ===\n\" log[10+6]") != NULL,
	    "failed/twice shows both attempts");

	buf_init(&a);
	buf_init(&b);
	queue_snapshot(NULL, &a);
	ok(strstr(a.data, "name=done state=complete uid=7 gid=8 ctime=1000 "
	    "time=1009 retry_at=0 pid=0 pst=0 att=0:0:0:0:0:0:0:0,"
	    "0:0:0:0:0:0:0:0,0:0:0:0:0:0:0:0,1008:1009:30:36:1:0:0:1 ")
	    != NULL, "the snapshot writes the attempts not kept as zeros");
	ok(strstr(a.data, "name=waiting state=pending uid=0 gid=0 ctime=8000 "
	    "time=8002 retry_at=9000 pid=0 pst=6 ") != NULL,
	    "and a waiting job's retry time and process start time");
	queue_free();

	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0, "the snapshot replays");
	shows_all(after);
	for (same = 1, i = 0; finished[i] != NULL; i++) {
		if (strcmp(before[i], after[i]) != 0) {
			printf("# before: %s\n# after:  %s\n", before[i],
			    after[i]);
			same = 0;
		}
		free(before[i]);
		free(after[i]);
	}
	ok(same, "every finished job shows the same after it");
	queue_snapshot(NULL, &b);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and a snapshot of it is the same");
	job = queue_by_name("done");
	ok(job->packed && job->live == NULL && job->natt == 4,
	    "done is packed again");

	ok(apply("move id=1 to=pending name=done time=20000") == 0,
	    "done is run again");
	ok(!job->packed && job->natt == 0 && job->live != NULL &&
	    job->live->onready && queue_next_ready() == job,
	    "with no attempts, on the run queue");
	ok(apply("start id=1 attempt=1 pid=1 pst=1 off=0 time=20001") == 0 &&
	    apply("end id=1 attempt=1 how=exit status=0 signal=0 end=3 eol=1 "
	    "time=20002 next=complete") == 0 && job->packed &&
	    job->natt == 1, "and completes at its first attempt");

	buf_free(&a);
	buf_free(&b);
	queue_free();
}

/* A job has a live part while it is queued or running, and not after. */
static void
test_live(void)
{
	struct buf	 a;
	struct job	*job;

	queue_init(1 << 20);
	ok(apply("new id=1 name=done uid=0 gid=0 time=10 text=true") == 0 &&
	    apply("start id=1 attempt=1 pid=7 pst=8 off=0 time=11") == 0,
	    "a job starts");
	job = queue_by_name("done");
	ok(job->live != NULL && job->live->pid == 7 && job->live->pst == 8,
	    "and has its live part, with its process");
	ok(apply("end id=1 attempt=1 how=exit status=0 signal=0 end=3 eol=1 "
	    "time=12 next=complete") == 0 && job->live == NULL,
	    "a complete job has none");
	ok(apply("new id=2 name=.draft uid=0 gid=0 time=13 text=x") == 0 &&
	    queue_by_name(".draft")->live == NULL, "nor a draft");
	ok(apply("new id=3 name=waiting uid=0 gid=0 time=14 text=z") == 0 &&
	    apply("start id=3 attempt=1 pid=5 pst=6 off=0 time=15") == 0 &&
	    apply("end id=3 attempt=1 how=exit status=1 signal=0 end=0 "
	    "eol=1 time=16 next=pending retry_at=900") == 0,
	    "a job waits to retry");
	job = queue_by_name("waiting");
	ok(job->live != NULL && job->live->retry_at == 900 &&
	    job->live->pid == 0 && job->live->pst == 6,
	    "and keeps its retry time");
	buf_init(&a);
	queue_snapshot(NULL, &a);
	ok(strstr(a.data, "name=done state=complete uid=0 gid=0 ctime=10 "
	    "time=12 retry_at=0 pid=0 pst=0 ") != NULL &&
	    strstr(a.data, "name=waiting state=pending uid=0 gid=0 ctime=14 "
	    "time=16 retry_at=900 pid=0 pst=6 ") != NULL,
	    "the snapshot has the process of a live job only");
	buf_free(&a);

	job = queue_by_name("done");
	job->nlookup = UINT32_MAX - 1;
	queue_lookup(job);
	queue_lookup(job);
	ok(job->nlookup == UINT32_MAX, "kernel references saturate");
	job->nlookup = 0;
	queue_free();
}

/* The pool hands out zeroed objects that do not overlap, and reuses them. */
static void
test_pool(void)
{
	struct pool	  p;
	unsigned char	**v;
	size_t		  i, j, n;
	int		  good = 1;

	pool_init(&p, 40);
	n = 3 * p.perpage + 5;
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i] = pool_get(&p);
		for (j = 0; j < 40; j++)
			good &= v[i][j] == 0;
		memset(v[i], (int)(i % 251) + 1, 40);
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < 40; j++)
			good &= v[i][j] == (unsigned char)(i % 251) + 1;
	}
	ok(good, "%zu objects over 4 pages: zeroed, none overlaps", n);
	for (i = 0; i < n; i += 2)
		pool_put(&p, v[i]);
	for (i = 0; i < n; i += 2) {
		v[i] = pool_get(&p);
		for (j = 0; j < 40; j++)
			good &= v[i][j] == 0;
	}
	ok(good, "objects given back come out again, zeroed");
	for (i = 0; i < n; i++)
		pool_put(&p, v[i]);
	ok(TAILQ_EMPTY(&p.room), "all given back: no page is left");
	free(v);
}

/* Many jobs: found by id and by name as the tables grow and shrink. */
static void
test_many(void)
{
	struct job	*job;
	char		 rec[128], name[32], text[32];
	unsigned	 i, n = 20000;
	int		 good = 1;

	queue_init(1 << 20);
	for (i = 1; i <= n; i++) {
		snprintf(rec, sizeof rec, "new id=%u name=j%u uid=0 gid=0 "
		    "time=%u text=t%u", i, i, i, i);
		good &= apply(rec) == 0;
	}
	ok(good, "%u jobs", n);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof name, "j%u", i);
		snprintf(text, sizeof text, "t%u", i);
		job = queue_by_id(i);
		good &= job != NULL && job == queue_by_name(name) &&
		    strcmp(queue_text(job), text) == 0;
	}
	ok(good, "each found by id and by name");
	for (i = 1; i <= n; i += 2) {
		snprintf(rec, sizeof rec, "rm id=%u time=1", i);
		good &= apply(rec) == 0;
	}
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof name, "j%u", i);
		job = queue_by_name(name);
		good &= (i % 2 == 1) == (job == NULL && queue_by_id(i) == NULL);
	}
	ok(good, "half removed: the other half is still found");
	ok(apply("name id=2 name=renamed time=2") == 0 &&
	    queue_by_name("renamed") == queue_by_id(2) &&
	    queue_by_name("j2") == NULL, "a renamed job is found by its name");
	ok(queue_by_id(n + 1) == NULL && queue_by_name("j20001") == NULL,
	    "an id or a name never given is not");
	queue_free();
}

/* Start the next job of the run queue; return its name, or "none". */
static const char *
start_next(unsigned *pid)
{
	struct job	*job;
	char		 rec[128];

	if ((job = queue_next_ready()) == NULL)
		return "none";
	snprintf(rec, sizeof rec, "start id=%llu attempt=%u pid=%u pst=1 "
	    "off=0 time=%u", (unsigned long long)job->id, job->natt + 1,
	    *pid, *pid);
	(*pid)++;
	if (apply(rec) != 0)
		return "refused";
	return job->name;
}

/* Queue draft .NAME as NAME (id), with a priority unless prio is NULL. */
static int
queue_prio(unsigned id, const char *name, const char *prio)
{
	char	rec[128];
	int	rv;

	snprintf(rec, sizeof rec, "new id=%u name=.%s uid=0 gid=0 time=%u "
	    "text=true", id, name, id);
	rv = apply(rec);
	if (prio != NULL) {
		snprintf(rec, sizeof rec, "policy id=%u key=priority value=%s "
		    "time=%u", id, prio, id);
		rv |= apply(rec);
	}
	snprintf(rec, sizeof rec, "name id=%u name=%s time=%u", id, name, id);
	return rv | apply(rec);
}

/*
 * A job's policy (user.filed.*): set on a draft, removed, canonical
 * values only, kept by a snapshot; the priority orders the run queue
 * (FIFO within a level, interrupted jobs before all), not_before
 * keeps a queued job off it, and what users write is parsed as the
 * manual says.
 */
static void
test_policy(void)
{
	struct buf	 a, b, v;
	struct job	*job = NULL;
	char		*cause = NULL, order[128];
	unsigned	 pid = 100;
	int		 i;

	queue_init(1 << 20);
	ok(apply("new id=1 name=.x uid=0 gid=0 time=1 text=x") == 0 &&
	    apply("policy id=1 key=timeout value=1.5 time=2") == 0 &&
	    apply("policy id=1 key=max_retries value=7 time=2") == 0 &&
	    (job = queue_by_name(".x")) != NULL && job->live != NULL &&
	    policy_num(job->live->policy, POL_TIMEOUT, 0) == 1.5 &&
	    policy_num(job->live->policy, POL_MAX_RETRIES, 3) == 7 &&
	    policy_num(job->live->policy, POL_KILL_GRACE, 5) == 5,
	    "overrides on a draft; the other settings are the defaults");
	ok(apply("policy id=1 key=timeout value=01.5") != 0 &&
	    apply("policy id=1 key=timeout value=-1") != 0 &&
	    apply("policy id=1 key=max_retries value=1.5") != 0 &&
	    apply("policy id=1 key=priority value=101") != 0 &&
	    apply("policy id=1 key=priority value=+1") != 0 &&
	    apply("policy id=1 key=nice value=20") != 0 &&
	    apply("policy id=1 key=not_before value=0") != 0 &&
	    apply("policy id=1 key=bogus value=1") != 0 &&
	    apply("policy id=1 value=1") != 0 &&
	    apply("policy id=99 key=timeout value=1") != 0 &&
	    policy_num(job->live->policy, POL_TIMEOUT, 0) == 1.5,
	    "a value not canonical or out of range, an unknown key or job: "
	    "refused, nothing changed");
	ok(apply("policy id=1 key=timeout time=3") == 0 &&
	    !policy_has(job->live->policy, POL_TIMEOUT) &&
	    apply("policy id=1 key=max_retries time=3") == 0 &&
	    job->live == NULL,
	    "removed; a draft with none left drops its live part");

	/* a, c: priority 0; b, d: 5; e: -3; f: -50 and interrupted. */
	ok(queue_prio(2, "a", NULL) == 0 && queue_prio(3, "b", "5") == 0 &&
	    queue_prio(4, "c", "0") == 0 && queue_prio(5, "d", "5") == 0 &&
	    queue_prio(6, "e", "-3") == 0 && queue_prio(7, "f", "-50") == 0 &&
	    apply("start id=7 attempt=1 pid=7 pst=1 off=0 time=8") == 0 &&
	    apply("end id=7 attempt=1 how=interrupted status=0 signal=0 "
	    "end=0 eol=1 time=9 next=pending retry_at=0") == 0,
	    "six jobs of three priorities queued");
	buf_init(&a);
	buf_init(&b);
	queue_snapshot(NULL, &a);
	ok(strstr(a.data, "policy id=3 key=priority value=5\n") != NULL,
	    "the snapshot has their policy records");
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0, "the snapshot replays");
	queue_snapshot(NULL, &b);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and writes the same snapshot");
	order[0] = '\0';
	for (i = 0; i < 7; i++) {
		strcat(order, start_next(&pid));
		strcat(order, " ");
	}
	is_str(order, "f b d a c e none ",
	    "interrupted first, then higher first, FIFO within a level");

	ok(apply("new id=10 name=.late uid=0 gid=0 time=10 text=x") == 0 &&
	    apply("policy id=10 key=not_before value=5000000000 time=10") ==
	    0 && apply("name id=10 name=late time=11") == 0 &&
	    (job = queue_by_name("late")) != NULL &&
	    job->state == JOB_PENDING && job->live->retry_at == 5000000000 &&
	    !job->live->onready && queue_next_ready() == NULL,
	    "a job queued with not_before waits off the run queue");
	buf_reset(&a);
	queue_snapshot(NULL, &a);
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0 && (job = queue_by_name("late")) != NULL &&
	    job->live->retry_at == 5000000000 && queue_next_ready() == NULL,
	    "and still does after a snapshot");
	queue_retry_due(job);
	ok(queue_next_ready() == job, "until its time comes");
	ok(apply("start id=10 attempt=1 pid=1 pst=1 off=0 time=12") == 0 &&
	    apply("end id=10 attempt=1 how=exit status=1 signal=0 end=0 "
	    "eol=1 time=13 next=failed") == 0 &&
	    apply("policy id=10 key=priority value=9 time=14") == 0 &&
	    apply("move id=10 to=pending name=late time=15") == 0 &&
	    job->state == JOB_PENDING && job->live->retry_at == 5000000000 &&
	    policy_priority(job->live->policy) == 9,
	    "a failed job takes a policy and keeps it when run again");
	buf_free(&a);
	buf_free(&b);
	queue_free();

	buf_init(&v);
	ok(policy_parse(POL_NOT_BEFORE, "+60", 3, 1000, &v, &cause) == 0 &&
	    strcmp(v.data, "60000001000") == 0, "not_before +SECONDS");
	buf_reset(&v);
	ok(policy_parse(POL_NOT_BEFORE, "2026-12-24T18:00:00Z", 20, 0, &v,
	    &cause) == 0 && strcmp(v.data, "1798135200000000000") == 0,
	    "not_before in RFC 3339 UTC");
	buf_reset(&v);
	ok(policy_parse(POL_NOT_BEFORE, "2026-12-24T18:00:00.25+01:00", 28,
	    0, &v, &cause) == 0 &&
	    strcmp(v.data, "1798131600250000000") == 0,
	    "with a fraction and an offset");
	buf_reset(&v);
	ok(policy_parse(POL_PRIORITY, "-100", 4, 0, &v, &cause) == 0 &&
	    strcmp(v.data, "-100") == 0 && (buf_reset(&v),
	    policy_parse(POL_BACKOFF_BASE, "0.50", 4, 0, &v, &cause)) == 0 &&
	    strcmp(v.data, "0.5") == 0, "numbers in their canonical form");
	{
		static const char *bad[][2] = {
			{ "not_before", "2026-02-30T00:00:00Z" },
			{ "not_before", "2026-12-24 18:00:00Z" },
			{ "not_before", "1969-12-31T23:59:59Z" },
			{ "not_before", "3000-01-01T00:00:00Z" },
			{ "not_before", "tomorrow" },
			{ "not_before", "+" },
			{ "not_before", "+-5" },
			{ "not_before", "+1e3" },
			{ "priority", "1.0" },
			{ "priority", "-101" },
			{ "priority", "" },
			{ "nice", "20" },
			{ "max_retries", "1000001" },
			{ "timeout", "abc" },
			{ "backoff_mult", "0.5" },
			{ "kill_grace", " 1" },
		};
		int	good = 1;
		size_t	k;

		for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			buf_reset(&v);
			cause = NULL;
			if (policy_parse(policy_key(bad[k][0]), bad[k][1],
			    strlen(bad[k][1]), 0, &v, &cause) == 0 ||
			    cause == NULL) {
				printf("# accepted: %s=%s\n", bad[k][0],
				    bad[k][1]);
				good = 0;
			}
			free(cause);
		}
		ok(good, "bad values refused, each with a cause");
	}
	cause = NULL;
	ok(policy_parse(POL_TIMEOUT, "1\0", 2, 0, &v, &cause) != 0 &&
	    cause != NULL, "a NUL byte is refused");
	free(cause);
	cause = NULL;
	ok(policy_parse(POL_TIMEOUT, "x", 1, 0, &v, &cause) != 0 &&
	    cause != NULL &&
	    strcmp(cause, "timeout: must be a number from 0 to 1000000000") ==
	    0, "the cause gives the range, as config.json's does");
	free(cause);
	buf_free(&v);
}

/*
 * user.filed.after: a queued job is held until its jobs complete, a
 * snapshot keeps it held, a job that fails dooms it and its "depfail"
 * record moves it to failed/, and a job that completed and goes is taken
 * out of the lists.
 */
static void
test_after(void)
{
	struct buf	 a, b;
	struct job	*job = NULL;

	queue_init(1 << 20);
	ok(apply("new id=1 name=x uid=0 gid=0 time=1 text=true") == 0 &&
	    apply("new id=2 name=y uid=0 gid=0 time=1 text=false") == 0 &&
	    apply("new id=3 name=.j uid=0 gid=0 time=2 text=true") == 0 &&
	    apply("policy id=3 key=after value=1,2 time=3") == 0 &&
	    apply("policy id=3 key=after value=2,1 time=3") != 0 &&
	    apply("policy id=3 key=after value=1,1 time=3") != 0 &&
	    apply("policy id=3 key=after value=1, time=3") != 0 &&
	    apply("name id=3 name=j time=4") == 0 &&
	    (job = queue_by_name("j")) != NULL && job->live->held &&
	    !job->live->onready, "a job queued after two others is held");
	ok(apply("start id=1 attempt=1 pid=1 pst=1 off=0 time=5") == 0 &&
	    apply("end id=1 attempt=1 how=exit status=0 signal=0 end=0 "
	    "eol=1 time=6 next=complete") == 0 && job->live->held,
	    "one of them completes: still held");
	buf_init(&a);
	buf_init(&b);
	queue_snapshot(NULL, &a);
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0 && (job = queue_by_name("j")) != NULL &&
	    job->live->held, "a snapshot keeps it held");
	queue_snapshot(NULL, &b);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and writes the same snapshot");
	ok(apply("rm id=1 time=7") == 0 && job->live->held &&
	    policy_has(job->live->policy, POL_AFTER) &&
	    job->live->policy->nafter == 1 &&
	    job->live->policy->after[0] == 2,
	    "the complete one removed: taken out of its list");
	ok(apply("depfail id=3 dep=2 name=y time=8") != 0,
	    "no depfail while the other may still complete");
	ok(apply("start id=2 attempt=1 pid=2 pst=1 off=0 time=9") == 0 &&
	    apply("end id=2 attempt=1 how=exit status=1 signal=0 end=0 "
	    "eol=1 time=10 next=failed") == 0 && job->live->held &&
	    apply("depfail id=3 dep=2 name=y time=11") == 0 &&
	    job->state == JOB_FAILED && job->live->depfail == 2,
	    "the other fails: the depfail record moves it to failed/");
	ok(apply("depfail id=3 dep=2 name=y time=12") != 0,
	    "a second depfail is refused");
	buf_reset(&a);
	buf_reset(&b);
	queue_snapshot(NULL, &a);
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0 && (job = queue_by_name("j")) != NULL &&
	    job->state == JOB_FAILED && job->live->depfail == 2 &&
	    strcmp(job->live->depname, "y") == 0,
	    "a snapshot keeps why it failed");
	queue_snapshot(NULL, &b);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and writes the same snapshot");
	ok(apply("move id=2 to=pending name=y time=13") == 0 &&
	    apply("move id=3 to=pending name=j time=14") == 0 &&
	    job->live->held && job->live->depfail == 0 &&
	    queue_next_ready() == queue_by_name("y"),
	    "run again, it waits for its job again");
	ok(apply("start id=2 attempt=1 pid=3 pst=1 off=0 time=15") == 0 &&
	    apply("end id=2 attempt=1 how=exit status=0 signal=0 end=0 "
	    "eol=1 time=16 next=complete") == 0 && !job->live->held &&
	    queue_next_ready() == job,
	    "which completes: it joins the run queue");
	buf_free(&a);
	buf_free(&b);
	queue_free();
}

/*
 * The bytes of the finished jobs' logs (max_logs_total): the end of each
 * one's last attempt, kept through reruns, cancels, removals and a
 * snapshot.
 */
static void
test_logs(void)
{
	struct buf	 snap;

	queue_init(1 << 20);
	ok(apply("new id=1 name=a uid=0 gid=0 time=1 text=x") == 0 &&
	    apply("start id=1 attempt=1 pid=2 pst=3 off=0 time=2") == 0 &&
	    queue_logs_total() == 0, "a running job counts nothing");
	ok(apply("end id=1 attempt=1 how=exit status=1 signal=0 end=40 eol=1 "
	    "time=3 next=pending retry_at=0") == 0 && queue_logs_total() == 0,
	    "nor one waiting to retry");
	ok(apply("start id=1 attempt=2 pid=2 pst=3 off=40 time=4") == 0 &&
	    apply("end id=1 attempt=2 how=exit status=0 signal=0 end=100 "
	    "eol=1 time=5 next=complete") == 0 && queue_logs_total() == 100,
	    "a complete job counts its whole file, every attempt");
	ok(apply("new id=2 name=b uid=0 gid=0 time=6 text=y") == 0 &&
	    apply("start id=2 attempt=1 pid=4 pst=5 off=10 time=7") == 0 &&
	    apply("move id=2 to=failed name=b time=8") == 0 &&
	    queue_logs_total() == 110,
	    "a cancelled job counts up to where its attempt started");
	ok(apply("end id=2 attempt=1 how=signal status=0 signal=9 end=25 "
	    "eol=1 time=9") == 0 && queue_logs_total() == 125,
	    "and up to its end once that is recorded");
	ok(apply("move id=1 to=pending name=a time=10") == 0 &&
	    queue_logs_total() == 25, "a job run again counts nothing");
	buf_init(&snap);
	queue_snapshot(NULL, &snap);
	queue_free();
	queue_init(1 << 20);
	ok(replay_snapshot(&snap) == 0 && queue_logs_total() == 25,
	    "a snapshot replays to the same count");
	buf_free(&snap);
	ok(apply("rm id=2 time=12") == 0 && queue_logs_total() == 0,
	    "a removed job counts nothing");
	ok(apply("rm id=1 time=13") == 0 && queue_logs_total() == 0,
	    "nor does removing a job that counted nothing change it");
	queue_free();
}

int
main(void)
{
	struct buf	 a, b;
	struct job	*job;

	queue_init(1 << 20);

	ok(apply("new id=1 name=one uid=1000 gid=100 time=5 text=echo\\s1") == 0,
	    "a new job");
	ok(apply("new id=2 name=.draft uid=0 gid=0 time=6 text=x") == 0,
	    "a new draft");
	ok(apply("new id=3 name=three uid=0 gid=0 time=7 text=false") == 0,
	    "another job");
	ok(apply("new id=4 name=four uid=0 gid=0 time=7 text=sleep\\s9") == 0,
	    "a fourth job");
	ok(apply("new id=5 name=five uid=0 gid=0 time=7 text=true") == 0,
	    "a fifth job");
	ok(apply("new id=6 name=six uid=0 gid=0 time=7 text=true") == 0,
	    "a sixth job");
	ok(apply("start id=3 attempt=1 pid=10 pst=99 off=0 time=8") == 0,
	    "job three starts");
	ok(apply("end id=3 attempt=1 how=exit status=1 signal=0 end=4 eol=0 "
	    "time=9 next=pending retry_at=500") == 0, "and waits to retry");
	ok(apply("start id=4 attempt=1 pid=11 pst=98 off=0 time=8") == 0,
	    "job four starts and is still running");
	ok(apply("start id=5 attempt=1 pid=12 pst=97 off=0 time=8") == 0 &&
	    apply("end id=5 attempt=1 how=signal status=0 signal=9 end=0 "
	    "eol=1 time=9 next=failed") == 0, "job five fails");
	ok(apply("start id=6 attempt=1 pid=13 pst=96 off=0 time=8") == 0 &&
	    apply("end id=6 attempt=1 how=exit status=0 signal=0 end=3 eol=1 "
	    "time=9 next=complete") == 0, "job six completes");
	ok(apply("attr ino=2 mode=1016 uid=0 gid=33 time=10") == 0,
	    "pending/ is chmod'ed");
	ok(apply("ids upto=2048") == 0, "new-id numbers reserved");

	/* Records that do not fit the state are refused. */
	ok(apply("new id=7 name=one uid=0 gid=0 time=1 text=") != 0,
	    "a second job with a taken name is refused");
	ok(apply("start id=1 attempt=2 pid=1 pst=1 off=0 time=1") != 0,
	    "a start with the wrong attempt number is refused");
	ok(apply("end id=1 attempt=1 how=exit status=0 signal=0 end=0 eol=1 "
	    "time=1 next=complete") != 0, "the end of a job never started");
	ok(apply("text id=6 time=1 text=x") != 0,
	    "new text for a finished job is refused");
	ok(apply("move id=1 to=failed name=one time=1") != 0,
	    "a pending job cannot be cancelled into failed/");
	ok(apply("rm id=99 time=1") != 0, "rm of an unknown job is refused");
	ok(apply("name id=1 name=.back time=1") != 0,
	    "a queued job cannot become a draft");
	ok(apply("bogus id=1") != 0, "an unknown record type is refused");

	ok(apply("new id=7 name=seven uid=0 gid=0 time=7 text=") == 0 &&
	    apply("rm id=7 time=8") == 0, "the newest job is removed");

	job = queue_by_name("three");
	ok(job != NULL && job->state == JOB_PENDING &&
	    job->live->retry_at == 500 && job->natt == 1 &&
	    job->att[0].eol == 0, "three waits, 1 attempt");
	ok(queue_next_ready() == queue_by_name("one"),
	    "one is first on the run queue");

	buf_init(&a);
	buf_init(&b);
	queue_snapshot(NULL, &a);
	queue_free();

	queue_init(1 << 20);
	ok(replay_snapshot(&a) == 0, "the snapshot replays");
	queue_snapshot(NULL, &b);
	is_int(a.len, b.len, "a snapshot of the replayed snapshot is as long");
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "and the same");
	job = queue_by_name("four");
	ok(job != NULL && job->state == JOB_ACTIVE && job->live->pid == 11 &&
	    job->live->pst == 98, "a running job keeps its pid and start time");
	job = queue_by_name(".draft");
	ok(job != NULL && job->state == JOB_DRAFT &&
	    strcmp(queue_text(job), "x") == 0, "the draft keeps its text");
	ok(queue_node(INO_PENDING)->gid == 33 &&
	    (queue_node(INO_PENDING)->mode & 07777) == 01770,
	    "pending/ keeps its group and mode");
	ok(*queue_ids_upto() == 2048, "new-id reservations are kept");
	ok(queue_next_ready() == queue_by_name("one"),
	    "the run queue keeps its order");
	ok(queue_new("fresh", 0, 0, 0, &job) == 0 && job->id == 8,
	    "ids are not reused after a snapshot");
	queue_abandon(job);
	ok(apply("name id=1 name=uno time=11") == 0 &&
	    (job = queue_by_name("uno")) != NULL &&
	    queue_by_name("one") == NULL &&
	    strcmp(queue_text(job), "echo 1") == 0 && job->textlen == 6,
	    "a renamed job keeps its text");

	buf_free(&a);
	buf_free(&b);
	queue_free();

	test_live();
	test_records();
	test_finished();
	test_many();
	test_pool();
	test_policy();
	test_after();
	test_logs();
	return tap_done();
}
