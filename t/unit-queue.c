/*
 * unit-queue.c: the state machine without a mount. Records are applied as
 * replay applies them; the snapshot that compaction writes must recreate
 * the same state, and records that do not fit the state are refused.
 * A finished job keeps only what it shows, and no live part.
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
	ok(queue_new("fresh", 0, 0, NULL, &job) == 0 && job->id == 8,
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
	return tap_done();
}
