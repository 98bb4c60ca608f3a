/*
 * queue.c: the jobs, their names and the state machine.
 *
 * Every job state change is one journal record, and every record is applied
 * to memory by one function, queue_apply(), which serves both the replay at
 * startup and the live daemon. A live change is built as a record body,
 * appended to the journal, and applied only from the commit callback, so the
 * state in memory is always exactly what the journal says:
 *
 * - A change that fails to commit leaves memory untouched.
 * - A record is only ever written against committed state: while a job has
 *   a record in flight, every other change to it waits (queue_wait) and is
 *   validated again afterwards. The journal therefore never holds a
 *   transition that replay would reject.
 * - Names are unique across the four directories. A name that an
 *   uncommitted rename will take is reserved until the commit is done.
 *
 * The run queue holds pending jobs that may start now: one FIFO for each
 * priority level (user.filed.priority, policy.c), and a bitmap of the
 * levels that hold a job, so that choosing the next job looks at the
 * highest non-empty level and costs the same with 100,000 jobs queued as
 * with one. Interrupted jobs go to a level of their own above all others,
 * in the order their attempts started: they were running, so they come
 * before anything queued meanwhile. A job waiting for its retry time, or
 * for its not_before time, is off the queue until run.c's timer puts it
 * back at the tail of its level.
 *
 * A queued job with user.filed.after is held off the run queue (q.held)
 * until every job it runs after is complete. Whenever a job completes,
 * fails or goes, the held jobs are looked at again (deps_review): those
 * whose jobs are all complete join the run queue; those one of whose jobs
 * failed or went before it completed are doomed, and the daemon writes a
 * "depfail" record that moves each to failed/ (queue_deps_fail). A job
 * that completed and is then removed no longer holds anything back: it is
 * taken out of every list of jobs to run after (q.afters) as it goes.
 *
 * Every job stays in memory until it is removed, and most are finished, so
 * a finished job keeps only what it shows: its live part goes once nothing
 * uses it, and it keeps its last attempt only if no earlier one is shown
 * (job_settle). struct job itself comes from a pool (pool.c).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filed.h"

#define HASH_LOAD	4	/* jobs a hash bucket, on average, at most */
#define IDBITS_MAX	(64 * 1024 * 1024)	/* ids: 8 MiB of bits */
#define HASH_PRESIZE	(256 * 1024)	/* buckets made up front, at most */
/*
 * The top bits of a name's hash, kept in the job (hname): a lookup by name
 * reads the names of only those jobs in the bucket whose tag matches.
 */
#define HASH_TAG(h)	((unsigned)((h) >> 53))

#define READY_HEAD	(POL_PRIO_MAX - POL_PRIO_MIN + 1) /* interrupted */
#define READY_LEVELS	(READY_HEAD + 1)
#define READY_WORDS	((READY_LEVELS + 63) / 64)

struct commit {
	struct job	*job;
	struct job	*other;		/* a second job the record changes */
	int		 held_back;	/* may use the space held back (space.c) */
	int		 lazy;		/* journal_append_lazy */
	struct buf	 body;
	queue_done_cb	 cb;
	void		*arg;
	char		*reserved;
};

struct reserved {
	char			*name;
	TAILQ_ENTRY(reserved)	 entry;
};

static struct {
	struct journal	*journal;
	size_t		 max_line;
	struct jobs	 dirs[INO_COMPLETE - INO_PENDING + 1]; /* pending/.. */
	struct jobs	 ready[READY_LEVELS];	/* by priority, lowest first,
						   then READY_HEAD */
	uint64_t	 readymap[READY_WORDS];	/* the levels that hold a job */
	struct jobs	 held;		/* queued, waiting for jobs */
	struct jobs	 afters;	/* every job whose policy has after */
	int		 deps_dirty;	/* a job completed, failed or went */
	int		 doomed;	/* a held job waits for a failed one */
	struct job	**byid;
	struct job	**byname;
	struct job	*lastid;	/* the job queue_by_id found last */
	uint64_t	 lastfreed;	/* the id last taken out of the table */
	uint64_t	 maxid;		/* no job was ever made with a higher id */
	uint64_t	*idbits;	/* replay: a bit an id below nidbits, set */
	uint64_t	 nidbits;	/* while a job has that id (idbits_init) */
	uint64_t	*namebits;	/* replay: a Bloom filter of the names */
	uint64_t	 nnamebits;	/* in the name table, 8 bits a job */
	size_t		 nbuckets;
	size_t		 njobs;		/* in the hash tables */
	uint64_t	 next_id;
	uint64_t	 ids_next;	/* next new-id number to hand out */
	uint64_t	 ids_upto;	/* numbers below this are reserved */
	uint64_t	 nunfinished;	/* pending or active jobs */
	uint64_t	 nall;		/* jobs in the namespace */
	uint64_t	 nstate[JOB_COMPLETE + 1]; /* of them, by job_counted */
	uint64_t	 logs;		/* bytes of finished jobs' logs */
	struct pool	 pool;		/* where struct job comes from */
	struct node	 nodes[INO_NFIXED];
	TAILQ_HEAD(, reserved) reserved;
	uint64_t	 boot;		/* the boot attempts start in now */
	char		 boot_id[64];	/* its id, as the boot record says */
} q;

static uint64_t	 hash_name(const char *);
static uint64_t	 hash_id(uint64_t);
static void	 hash_grow(void);
static void	 hash_insert(struct job *);
static void	 hash_remove_name(struct job *);
static void	 hash_remove_id(struct job *);
static struct job *job_alloc(uint64_t, const char *, const char *, size_t);
static void	 job_free(struct job *);
static void	 job_forget(struct job *);
static void	 job_store(struct job *, const char *, size_t, const char *,
		    size_t);
static void	 job_set_name(struct job *, const char *);
static enum job_state job_counted(const struct job *);
static void	 job_set_unreleased(struct job *, int);
static void	 job_set_text(struct job *, const char *, size_t);
static void	 job_enqueue(struct job *);
static void	 job_dequeue(struct job *);
static void	 job_enqueue_head(struct job *);
static unsigned	 job_level(const struct job *);
static void	 ready_mark(unsigned);
static void	 job_queue(struct job *, int);
static void	 job_queue_time(struct job *, int);
static void	 job_hold(struct job *, int);
static int	 deps_state(const struct job *, uint64_t *);
static int	 deps_lists(const struct job *, uint64_t);
static void	 deps_track(struct job *);
static void	 deps_review(int);
static int	 after_reaches(uint64_t, uint64_t, unsigned *);
static void	 job_settle(struct job *);
static void	 job_pack(struct job *);
static void	 job_unpack(struct job *);
static void	 job_clear_attempts(struct job *);
static struct attempt *job_attempt(struct job *, unsigned);
static void	 reserve(struct commit *, const char *);
static void	 commit_append(struct commit *);
static void	 commit(struct job *, struct buf *, const char *,
		    queue_done_cb, void *);
static void	 commit_two(struct job *, struct job *, struct buf *,
		    const char *, queue_done_cb, void *);
static void	 commit_done(void *, int);
static void	 commit_settled(struct job *);

static int	 queue_apply(struct rec *, int, const char **);
static void	 announce(int, const struct job *, enum change_kind,
		    enum job_state, int, int64_t, const struct attempt *, int64_t);
static int	 get_job(struct rec *, struct job **, const char **);
static int	 get_unreleased(struct rec *, struct job **, const char **);
static void	 ended_retry(void *);
static int	 apply_new(struct rec *, int, int64_t, const char **);
static int	 apply_queue(struct rec *, int, int64_t, const char **);
static int	 apply_draft(struct rec *, int, int64_t, const char **);
static int	 apply_text(struct rec *, int, int64_t, const char **);
static int	 apply_name(struct rec *, int, int64_t, const char **);
static int	 apply_start(struct rec *, int, int64_t, const char **);
static int	 apply_end(struct rec *, int, int64_t, const char **);
static int	 apply_move(struct rec *, int, int64_t, const char **);
static int	 apply_rm(struct rec *, int, int64_t, const char **);
static int	 apply_attr(struct rec *, int, int64_t, const char **);
static int	 apply_ids(struct rec *, int, int64_t, const char **);
static int	 apply_boot(struct rec *, int, int64_t, const char **);
static int	 apply_job(struct rec *, int, int64_t, const char **);
static int	 apply_next(struct rec *, int, int64_t, const char **);
static int	 apply_policy(struct rec *, int, int64_t, const char **);
static int	 apply_depfail(struct rec *, int, int64_t, const char **);
static int	 parse_attempts(struct job *, const char *);
static void	 idbits_init(uint64_t);
static void	 idbits_set(uint64_t, int);
static void	 namebits_new(size_t);
static void	 namebits_add(uint64_t);
static int	 namebits_may(uint64_t);
static void	 snapshot_job(struct buf *, struct buf *, const struct job *);

/* Set up an empty queue; records may be up to max_line bytes. */
void
queue_init(size_t max_line)
{
	int	i;

	memset(&q, 0, sizeof q);
	q.max_line = max_line;
	pool_init(&q.pool, sizeof (struct job));
	for (i = INO_PENDING; i <= INO_COMPLETE; i++)
		TAILQ_INIT(queue_dir_jobs(i));
	for (i = 0; i < READY_LEVELS; i++)
		TAILQ_INIT(&q.ready[i]);
	TAILQ_INIT(&q.held);
	TAILQ_INIT(&q.afters);
	TAILQ_INIT(&q.reserved);
	q.nbuckets = 256;
	q.byid = xcalloc(q.nbuckets, sizeof *q.byid);
	q.byname = xcalloc(q.nbuckets, sizeof *q.byname);
	namebits_new(q.nbuckets);
	q.next_id = 1;
	q.ids_next = 1;
	q.ids_upto = 1;
	for (i = 0; i < INO_NFIXED; i++) {
		q.nodes[i].uid = getuid();
		q.nodes[i].gid = getgid();
		q.nodes[i].mtime = util_now();
		q.nodes[i].mode = S_IFDIR | 0750;
	}
	q.nodes[INO_ROOT].mode = S_IFDIR | 0755;
	q.nodes[INO_NEWID].mode = S_IFREG | 0440;
	q.nodes[INO_CONFIG].mode = S_IFREG | 0640;
	q.nodes[INO_EVENTS].mode = S_IFREG | 0640;
	q.nodes[INO_STATS].mode = S_IFREG | 0444;
}

/* Set the journal that live changes are written to, after replay. */
void
queue_set_journal(struct journal *j)
{
	q.journal = j;
	free(q.idbits);
	q.idbits = NULL;
	q.nidbits = 0;
	free(q.namebits);
	q.namebits = NULL;
	q.nnamebits = 0;
}

/*
 * At the replay of a snapshot, whose "next" record comes first and bounds
 * its ids: keep a bit for each id below next (up to IDBITS_MAX), set while
 * a job has it, so that queue_by_id answers "no such job" for a new job's
 * id without walking a chain of cold jobs. A snapshot lists its jobs run
 * queue first, so ids do not increase and maxid does not help; with names
 * (namebits_new), the lookups were half the replay of a million jobs. The
 * bits go once replay is over (queue_set_journal).
 */
static void
idbits_init(uint64_t next)
{
	struct job	*job;
	size_t		 i;

	if (q.journal != NULL || q.idbits != NULL || next > IDBITS_MAX)
		return;
	/*
	 * The tables as big as next ids would make them, up to 4 MiB, at
	 * once rather than by doubling: each doubling visits every job.
	 */
	while (q.nbuckets * 2 <= next / HASH_LOAD &&
	    q.nbuckets * 2 <= HASH_PRESIZE)
		hash_grow();
	q.nidbits = (next + 63) / 64 * 64;
	q.idbits = xcalloc(q.nidbits / 64, sizeof *q.idbits);
	for (i = 0; i < q.nbuckets; i++) {
		for (job = q.byid[i]; job != NULL; job = job->hnext_id)
			idbits_set(job->id, 1);
	}
}

/*
 * During replay, a Bloom filter of the names in the name table, 32 bits a
 * bucket of nbuckets (8 a job at most), made anew, empty, by queue_init
 * and by each hash_grow, which puts every name back into it: queue_by_name
 * then answers "no such job" for a new job's name (what replay mostly
 * asks) without walking a chain of cold jobs. It goes with replay
 * (queue_set_journal).
 */
static void
namebits_new(size_t nbuckets)
{
	free(q.namebits);
	q.namebits = NULL;
	q.nnamebits = 0;
	if (q.journal != NULL)
		return;
	q.nnamebits = (uint64_t)nbuckets * HASH_LOAD * 8;
	q.namebits = xcalloc(q.nnamebits / 64, sizeof *q.namebits);
}

/*
 * The two bits of a name's hash in the Bloom filter of names: set for
 * every name in the name table (and for some no longer in it), so that a
 * name with either bit clear is not there. One in twenty or so of the
 * names not there still walks its chain.
 */
static void
namebits_add(uint64_t h)
{
	uint64_t	a, b;

	if (q.namebits == NULL)
		return;
	a = h % q.nnamebits;
	b = (h >> 32) % q.nnamebits;
	q.namebits[a / 64] |= (uint64_t)1 << (a % 64);
	q.namebits[b / 64] |= (uint64_t)1 << (b % 64);
}

/* Might a name of hash h be in the name table? 1 if there is no filter. */
static int
namebits_may(uint64_t h)
{
	uint64_t	a, b;

	if (q.namebits == NULL)
		return 1;
	a = h % q.nnamebits;
	b = (h >> 32) % q.nnamebits;
	return (q.namebits[a / 64] >> (a % 64) & 1) &&
	    (q.namebits[b / 64] >> (b % 64) & 1);
}

/* Set (on) or clear the bit of id, if it has one. */
static void
idbits_set(uint64_t id, int on)
{
	if (id >= q.nidbits)
		return;
	if (on)
		q.idbits[id / 64] |= (uint64_t)1 << (id % 64);
	else
		q.idbits[id / 64] &= ~((uint64_t)1 << (id % 64));
}

/* May changes be made now? Not while the journal refuses them. */
int
queue_writable(void)
{
	return q.journal != NULL && !journal_broken(q.journal);
}

/* Does job count as unfinished (space for its future is held back)? */
static int
unfinished(const struct job *job)
{
	return !job->gone &&
	    (job->state == JOB_PENDING || job->state == JOB_ACTIVE);
}

/* The number of jobs in the four directories, drafts and new ones too. */
uint64_t
queue_count(void)
{
	return q.nall;
}

/*
 * The number of jobs in the namespace counted in state (see job_counted):
 * what stats shows. The counts are kept where a job comes, goes, or
 * changes state, so that a reader of stats costs nothing per job.
 */
uint64_t
queue_count_state(enum job_state state)
{
	if ((unsigned)state > JOB_COMPLETE)
		return 0;
	return q.nstate[state];
}

/* Count the unfinished jobs (after replay); later commits keep count. */
uint64_t
queue_unfinished(void)
{
	struct job	*job;
	uint64_t	 d;

	q.nunfinished = 0;
	for (d = INO_PENDING; d <= INO_ACTIVE; d++) {
		TAILQ_FOREACH(job, queue_dir_jobs(d), all) {
			if (unfinished(job))
				q.nunfinished++;
		}
	}
	return q.nunfinished;
}

/* Free every job; used at exit so that leak checkers see a clean heap. */
void
queue_free(void)
{
	struct job	*job;
	size_t		 i;

	for (i = 0; i < q.nbuckets; i++) {
		while ((job = q.byid[i]) != NULL) {
			q.byid[i] = job->hnext_id;
			job_free(job);
		}
	}
	free(q.byid);
	free(q.byname);
	q.byid = q.byname = NULL;
	free(q.idbits);
	q.idbits = NULL;
	q.nidbits = 0;
	free(q.namebits);
	q.namebits = NULL;
	q.nnamebits = 0;
}

/* The longest journal line a record may take. */
size_t
queue_max_line(void)
{
	return q.max_line;
}

/* FNV-1a over a name. */
static uint64_t
hash_name(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Mix an id so that consecutive ids spread over the buckets. */
static uint64_t
hash_id(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return id;
}

/*
 * Double the hash tables once they hold HASH_LOAD jobs a bucket. A bucket
 * costs a pointer in each table: 16 bytes a job at one job a bucket, 4 at
 * four. The chains are a few jobs longer, which no lookup through FUSE
 * would notice.
 */
static void
hash_grow(void)
{
	struct job	**byid, **byname, *job, *next;
	size_t		  n = q.nbuckets * 2, i, b;
	uint64_t	  h;

	byid = xcalloc(n, sizeof *byid);
	byname = xcalloc(n, sizeof *byname);
	namebits_new(n);
	for (i = 0; i < q.nbuckets; i++) {
		for (job = q.byid[i]; job != NULL; job = next) {
			next = job->hnext_id;
			b = hash_id(job->id) & (n - 1);
			job->hnext_id = byid[b];
			byid[b] = job;
		}
		for (job = q.byname[i]; job != NULL; job = next) {
			next = job->hnext_name;
			h = hash_name(job->name);
			namebits_add(h);
			b = h & (n - 1);
			job->hnext_name = byname[b];
			byname[b] = job;
		}
	}
	free(q.byid);
	free(q.byname);
	q.byid = byid;
	q.byname = byname;
	q.nbuckets = n;
}

/* Put a new job into both tables. */
static void
hash_insert(struct job *job)
{
	uint64_t	h;
	size_t		b;

	if (q.njobs >= HASH_LOAD * q.nbuckets)
		hash_grow();
	b = hash_id(job->id) & (q.nbuckets - 1);
	job->hnext_id = q.byid[b];
	q.byid[b] = job;
	h = hash_name(job->name);
	namebits_add(h);
	b = h & (q.nbuckets - 1);
	job->hname = HASH_TAG(h);
	job->hnext_name = q.byname[b];
	q.byname[b] = job;
	q.njobs++;
}

/* Take a job's name out of the name table. */
static void
hash_remove_name(struct job *job)
{
	struct job	**pp;

	pp = &q.byname[hash_name(job->name) & (q.nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->hnext_name) {
		if (*pp == job) {
			*pp = job->hnext_name;
			job->hnext_name = NULL;
			return;
		}
	}
}

/* Take a job out of the id table. */
static void
hash_remove_id(struct job *job)
{
	struct job	**pp;

	pp = &q.byid[hash_id(job->id) & (q.nbuckets - 1)];
	if (q.lastid == job)
		q.lastid = NULL;
	q.lastfreed = job->id;
	idbits_set(job->id, 0);
	for (; *pp != NULL; pp = &(*pp)->hnext_id) {
		if (*pp == job) {
			*pp = job->hnext_id;
			q.njobs--;
			return;
		}
	}
}

/* Return the list of jobs in the namespace, in id order. */
struct jobs *
queue_dir_jobs(uint64_t dir)
{
	if (dir < INO_PENDING || dir > INO_COMPLETE)
		fatalx("queue_dir_jobs: inode %llu", (unsigned long long)dir);
	return &q.dirs[dir - INO_PENDING];
}

/*
 * The state job is counted in (queue_count_state): its own, except that
 * a job being written whose text was saved at a close, a draft until its
 * creator lets go, is counted as new, as user.filed.state shows it.
 */
static enum job_state
job_counted(const struct job *job)
{
	if (job->state == JOB_DRAFT && job->unreleased)
		return JOB_NEW;
	return job->state;
}

/*
 * Set job's state, moving it to the tail of its new directory's list if
 * the state change moves it: a directory lists its jobs in the order they
 * came into it, and a listing reads only its own.
 */
static void
job_set_state(struct job *job, enum job_state state)
{
	int	from = queue_dir_of(job);

	if (!job->gone)
		q.nstate[job_counted(job)]--;
	job->state = state;
	if (!job->gone)
		q.nstate[job_counted(job)]++;
	if (queue_dir_of(job) == from || job->gone)
		return;
	TAILQ_REMOVE(queue_dir_jobs(from), job, all);
	TAILQ_INSERT_TAIL(queue_dir_jobs(queue_dir_of(job)), job, all);
}

/* Mark job as being written by its creator (1) or not (0), keeping count. */
static void
job_set_unreleased(struct job *job, int on)
{
	if (!job->gone)
		q.nstate[job_counted(job)]--;
	job->unreleased = on != 0;
	if (!job->gone)
		q.nstate[job_counted(job)]++;
}

/* Find a job by id, even one out of the namespace but still referenced. */
struct job *
queue_by_id(uint64_t id)
{
	struct job	*job;

	/*
	 * next_id may be far above every job (a snapshot's "next" record
	 * sets it first); maxid is not, and replay makes jobs mostly in
	 * increasing ids: their lookups stop here, not at the end of a chain
	 * of cold jobs.
	 */
	if (id > q.maxid)
		return NULL;
	if (id < q.nidbits && (q.idbits[id / 64] & (uint64_t)1 << (id % 64)) ==
	    0)
		return NULL;
	/*
	 * The records of one job come in runs (replay: its new, then its
	 * attempts; FUSE: an operation's several lookups), and a hit here
	 * saves walking a chain of cold jobs.
	 */
	if (q.lastid != NULL && q.lastid->id == id)
		return q.lastid;
	if (id == q.lastfreed)
		return NULL;	/* queue_apply looks again after an rm */
	job = q.byid[hash_id(id) & (q.nbuckets - 1)];
	for (; job != NULL; job = job->hnext_id) {
		if (job->id == id)
			return q.lastid = job;
	}
	return NULL;
}

/* Find a job in the namespace by name. */
struct job *
queue_by_name(const char *name)
{
	struct job	*job;
	uint64_t	 h = hash_name(name);

	if (!namebits_may(h))
		return NULL;
	job = q.byname[h & (q.nbuckets - 1)];
	for (; job != NULL; job = job->hnext_name) {
		if (!job->gone && job->hname == HASH_TAG(h) &&
		    strcmp(job->name, name) == 0)
			return job;
	}
	return NULL;
}

/* Find a job by inode number. */
struct job *
queue_by_ino(uint64_t ino)
{
	if (ino < INO_JOB_BASE)
		return NULL;
	return queue_by_id(ino - INO_JOB_BASE);
}

/* Return a job's inode number. */
uint64_t
queue_ino(const struct job *job)
{
	return job->id + INO_JOB_BASE;
}

/* Return the inode of the directory a job is listed in. */
int
queue_dir_of(const struct job *job)
{
	switch (job->state) {
	case JOB_NEW:
	case JOB_DRAFT:
	case JOB_PENDING:
		return INO_PENDING;
	case JOB_ACTIVE:
		return INO_ACTIVE;
	case JOB_FAILED:
		return INO_FAILED;
	case JOB_COMPLETE:
		return INO_COMPLETE;
	}
	return INO_PENDING;
}

/* Return the attributes of a fixed inode, or NULL. */
struct node *
queue_node(uint64_t ino)
{
	if (ino < 1 || ino >= INO_NFIXED)
		return NULL;
	return &q.nodes[ino];
}

/* Return 1 if no job has this name and no pending change will take it. */
int
queue_name_free(const char *name)
{
	struct reserved	*r;

	if (queue_by_name(name) != NULL)
		return 0;
	TAILQ_FOREACH(r, &q.reserved, entry) {
		if (strcmp(r->name, name) == 0)
			return 0;
	}
	return 1;
}

/* The word for a state, as shown in user.filed.state. */
const char *
queue_state_name(enum job_state state)
{
	switch (state) {
	case JOB_NEW:
		return "new";
	case JOB_DRAFT:
		return "draft";
	case JOB_PENDING:
		return "pending";
	case JOB_ACTIVE:
		return "active";
	case JOB_FAILED:
		return "failed";
	case JOB_COMPLETE:
		return "complete";
	}
	return "unknown";
}

/* A name that starts with a dot is a draft and never runs. */
int
queue_is_draft_name(const char *name)
{
	return name[0] == '.';
}

/*
 * Hold the journal's next batch while a burst of requests is handled
 * (on = 1), or let it go with everything the burst appended (on = 0).
 */
void
queue_cork(int on)
{
	if (q.journal == NULL)
		return;
	if (on)
		journal_cork(q.journal);
	else
		journal_uncork(q.journal);
}

/* Start a batch with what has queued, corked or not. */
void
queue_push(void)
{
	if (q.journal != NULL)
		journal_push(q.journal);
}

/*
 * Make a job with its text (len bytes) and put it into the namespace. The
 * text comes now rather than by job_set_text, which would copy the name
 * and the text a second time: replay makes a million jobs this way.
 */
static struct job *
job_alloc(uint64_t id, const char *name, const char *text, size_t len)
{
	struct job	*job;

	job = pool_get(&q.pool);
	job->id = id;
	job->mode = JOB_MODE_DEFAULT;
	job_store(job, name, strlen(name), text, len);
	TAILQ_INSERT_TAIL(queue_dir_jobs(queue_dir_of(job)), job, all);
	q.nall++;
	q.nstate[job_counted(job)]++;
	hash_insert(job);
	idbits_set(id, 1);
	q.lastid = job;
	if (id == q.lastfreed)
		q.lastfreed = 0;
	if (id > q.maxid)
		q.maxid = id;
	if (id >= q.next_id)
		q.next_id = id + 1;
	return job;
}

/* Free a job's memory. */
static void
job_free(struct job *job)
{
	free(job->name);
	if (!job->packed)
		free(job->att);
	if (job->live != NULL) {
		policy_free(job->live->policy);
		free(job->live->depname);
	}
	free(job->live);
	pool_put(&q.pool, job);
}

/*
 * Take a job out of the namespace. Its memory stays while the kernel still
 * holds a reference, a handle is open, a record is in flight or its
 * process is alive; queue_unref frees it when the last of those goes.
 */
static void
job_forget(struct job *job)
{
	if (job->gone)
		return;
	job_dequeue(job);
	if (job->live != NULL && job->live->held) {
		TAILQ_REMOVE(&q.held, job, live->hold);
		job->live->held = 0;
	}
	if (job->live != NULL && job->live->inafters) {
		TAILQ_REMOVE(&q.afters, job, live->aentry);
		job->live->inafters = 0;
	}
	hash_remove_name(job);
	TAILQ_REMOVE(queue_dir_jobs(queue_dir_of(job)), job, all);
	q.nall--;
	q.nstate[job_counted(job)]--;
	job->gone = 1;
	queue_unref(job);
}

/*
 * Something that referred to job has let go of it. A forgotten job is freed
 * once nothing refers to it any more; a job still in the namespace drops
 * what it no longer needs (job_settle).
 */
void
queue_unref(struct job *job)
{
	struct job_live	*l = job->live;

	if (l != NULL && (l->nopen != 0 || l->inflight != 0 ||
	    l->run != NULL || l->timer != NULL || l->pinned != 0 ||
	    !TAILQ_EMPTY(&l->waiters)))
		return;
	if (job->gone && job->nlookup == 0) {
		hash_remove_id(job);
		job_free(job);
		return;
	}
	job_settle(job);
}

/* Return the live part of job, making it if it has none. */
struct job_live *
queue_live(struct job *job)
{
	if (job->live == NULL) {
		job->live = xcalloc(1, sizeof *job->live);
		TAILQ_INIT(&job->live->waiters);
	}
	return job->live;
}

/* The number of job's records not yet committed. */
unsigned
queue_inflight(const struct job *job)
{
	return job->live != NULL ? job->live->inflight : 0;
}

/*
 * The kernel has taken a reference to job. The count saturates: a job
 * looked up 2^32 - 1 times without a forget stays in memory for good.
 */
void
queue_lookup(struct job *job)
{
	if (job->nlookup != UINT32_MAX)
		job->nlookup++;
}

/*
 * Drop what an idle job no longer needs: the live part of a job that is
 * finished, a draft or forgotten, once nothing uses it and it holds no
 * policy, and the earlier attempts of a finished job that never shows
 * them.
 */
static void
job_settle(struct job *job)
{
	struct job_live	*l = job->live;

	if (!job->gone && (job->state == JOB_NEW ||
	    job->state == JOB_PENDING || job->state == JOB_ACTIVE))
		return;
	if (l != NULL) {
		if (l->nopen != 0 || l->inflight != 0 || l->run != NULL ||
		    l->timer != NULL || l->pinned != 0 ||
		    !TAILQ_EMPTY(&l->waiters) || l->onready ||
		    l->work != NULL || l->logref != NULL)
			return;
		if (l->policy == NULL && l->depfail == 0) {
			free(l);
			job->live = NULL;
		}
	}
	job_pack(job);
}

/*
 * complete/NAME shows the last attempt only, and so does failed/NAME after
 * one attempt: keep just that one, packed. The attempt's end time is the
 * job's mtime (the end record sets both), so only an attempt that fits
 * (ended at mtime, status and signal in a byte, as a process's are) is
 * packed; any other stays as it is.
 */
static void
job_pack(struct job *job)
{
	struct attempt	a;

	if (job->packed || job->natt == 0 || (job->state != JOB_COMPLETE &&
	    (job->state != JOB_FAILED || job->natt != 1)))
		return;
	a = job->att[job->natt - 1];
	if (a.ended != job->mtime || a.status < 0 || a.status > 255 ||
	    a.signal < 0 || a.signal > 255)
		return;
	free(job->att);
	job->packed = 1;
	job->last.started = a.started;
	job->last.off = a.off;
	job->last.end = a.end;
	job->lhow = (unsigned)a.how;
	job->leol = a.eol != 0;
	job->lstatus = (unsigned)a.status;
	job->lsignal = (unsigned)a.signal;
}

/*
 * Give a packed job its array of attempts back, to change its last one.
 * The earlier ones were not kept: they read as zeros, as in a snapshot.
 */
static void
job_unpack(struct job *job)
{
	struct attempt	*att;

	if (!job->packed)
		return;
	att = xcalloc(job->natt, sizeof *att);
	queue_attempt(job, job->natt, &att[job->natt - 1]);
	job->packed = 0;
	job->att = att;
	job->attcap = job->natt;
}

/* Forget the attempts of a job's run: it runs again. */
static void
job_clear_attempts(struct job *job)
{
	if (job->packed) {
		job->packed = 0;
		job->att = NULL;
		job->attcap = 0;
	}
	job->natt = 0;
}

/*
 * Copy attempt n (1-based) of job into a. Returns -1 for an attempt the
 * job does not have or did not keep (an earlier one of a packed job).
 */
int
queue_attempt(const struct job *job, unsigned n, struct attempt *a)
{
	if (n == 0 || n > job->natt)
		return -1;
	if (!job->packed) {
		*a = job->att[n - 1];
		return 0;
	}
	if (n != job->natt)
		return -1;
	memset(a, 0, sizeof *a);
	a->started = job->last.started;
	a->ended = job->mtime;
	a->off = job->last.off;
	a->end = job->last.end;
	a->how = (int)job->lhow;
	a->status = (int)job->lstatus;
	a->signal = (int)job->lsignal;
	a->eol = job->leol;
	return 0;
}

/* A job's script: textlen bytes, after the name's NUL. */
const char *
queue_text(const struct job *job)
{
	return job->name + strlen(job->name) + 1;
}

/*
 * Put name and text (the script, len bytes) into the one allocation that
 * job->name points to, exactly as long as they need.
 */
static void
job_store(struct job *job, const char *name, size_t nlen, const char *text,
    size_t len)
{
	char	*p;

	p = xmalloc(nlen + len + 2);
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	memcpy(p + nlen + 1, text, len);
	p[nlen + 1 + len] = '\0';
	free(job->name);
	job->name = p;
	job->textlen = len;
}

/* Replace a job's script with len bytes of text. */
static void
job_set_text(struct job *job, const char *text, size_t len)
{
	job_store(job, job->name, strlen(job->name), text, len);
}

/* Rename a job in the name table. */
static void
job_set_name(struct job *job, const char *name)
{
	hash_remove_name(job);
	job_store(job, name, strlen(name), queue_text(job), job->textlen);
	job->hname = HASH_TAG(hash_name(name));
	namebits_add(hash_name(name));
	job->hnext_name = q.byname[hash_name(name) & (q.nbuckets - 1)];
	q.byname[hash_name(name) & (q.nbuckets - 1)] = job;
}

/* The level of the run queue a job goes to: its priority, from 0 up. */
static unsigned
job_level(const struct job *job)
{
	return (unsigned)(policy_priority(job->live->policy) - POL_PRIO_MIN);
}

/* Mark in the bitmap whether the run queue's level holds a job. */
static void
ready_mark(unsigned level)
{
	uint64_t	bit = 1ULL << (level % 64);

	if (TAILQ_EMPTY(&q.ready[level]))
		q.readymap[level / 64] &= ~bit;
	else
		q.readymap[level / 64] |= bit;
}

/* Put a pending job at the tail of its level of the run queue. */
static void
job_enqueue(struct job *job)
{
	struct job_live	*l = queue_live(job);

	if (l->onready)
		return;
	l->level = job_level(job);
	TAILQ_INSERT_TAIL(&q.ready[l->level], job, live->ready);
	ready_mark(l->level);
	l->onready = 1;
}

/* Take a job off the run queue. */
static void
job_dequeue(struct job *job)
{
	struct job_live	*l = job->live;

	if (l == NULL || !l->onready)
		return;
	TAILQ_REMOVE(&q.ready[l->level], job, live->ready);
	ready_mark(l->level);
	l->onready = 0;
	l->head = 0;
}

/*
 * A job has just been queued (a draft renamed, a rerun): onto the run
 * queue, or, if its policy says not before a time, off it until then. It
 * waits for that time as for a retry (retry_at, run.c's timer), so that
 * replay, snapshots and restarts treat both alike: a time that passed
 * while filed was stopped puts it on the run queue at the start.
 */
static void
job_queue(struct job *job, int live)
{
	struct job_live	*l = queue_live(job);
	uint64_t	 bad;

	l->depfail = 0;
	free(l->depname);
	l->depname = NULL;
	if (deps_state(job, &bad) != 0) {
		job_hold(job, 1);
		return;
	}
	job_queue_time(job, live);
}

/*
 * Hold a queued job off the run queue until its jobs are complete; review
 * says to look at the held jobs again after the record (not for a job a
 * snapshot says is held, whose policy comes in the records after it).
 */
static void
job_hold(struct job *job, int review)
{
	struct job_live	*l = queue_live(job);

	l->retry_at = 0;
	l->held = 1;
	TAILQ_INSERT_TAIL(&q.held, job, live->hold);
	if (review)
		q.deps_dirty = 1;
}

/* The rest of job_queue, once nothing holds the job: not_before. */
static void
job_queue_time(struct job *job, int live)
{
	struct job_live	*l = queue_live(job);

	l->retry_at = policy_not_before(l->policy);
	if (l->retry_at == 0)
		job_enqueue(job);
	else if (live)
		run_arm_retry(job);
}

/*
 * Where the jobs that job runs after stand: 0 all complete (or none), 1
 * some still to complete, -1 one failed or went before it completed (its
 * id in *bad): the job is doomed.
 */
static int
deps_state(const struct job *job, uint64_t *bad)
{
	const uint64_t	*ids;
	struct job	*dep;
	unsigned	 n, i;
	int		 rv = 0;

	ids = policy_after(job->live != NULL ? job->live->policy : NULL, &n);
	for (i = 0; i < n; i++) {
		dep = queue_by_id(ids[i]);
		if (dep == NULL || dep->gone || dep->state == JOB_FAILED) {
			*bad = ids[i];
			return -1;
		}
		if (dep->state != JOB_COMPLETE)
			rv = 1;
	}
	return rv;
}

/* Does job run after the job of this id? */
static int
deps_lists(const struct job *job, uint64_t id)
{
	const uint64_t	*ids;
	unsigned	 n, i;

	ids = policy_after(job->live != NULL ? job->live->policy : NULL, &n);
	for (i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
	}
	return 0;
}

/* Keep job on q.afters exactly while its policy has after. */
static void
deps_track(struct job *job)
{
	struct job_live	*l = job->live;
	int		 has;

	has = l != NULL && policy_has(l->policy, POL_AFTER) && !job->gone;
	if (has && !l->inafters) {
		TAILQ_INSERT_TAIL(&q.afters, job, live->aentry);
		l->inafters = 1;
	} else if (!has && l != NULL && l->inafters) {
		TAILQ_REMOVE(&q.afters, job, live->aentry);
		l->inafters = 0;
	}
}

/*
 * A job completed, failed or went: let the held jobs whose jobs are all
 * complete join the run queue, and note whether any is doomed.
 */
static void
deps_review(int live)
{
	struct job	*job, *next;
	uint64_t	 bad;
	int		 s;

	q.deps_dirty = 0;
	q.doomed = 0;
	TAILQ_FOREACH_SAFE(job, &q.held, live->hold, next) {
		if ((s = deps_state(job, &bad)) == 0) {
			TAILQ_REMOVE(&q.held, job, live->hold);
			job->live->held = 0;
			job_queue_time(job, live);
		} else if (s == -1)
			q.doomed = 1;
	}
}

/*
 * Put a job whose attempt was interrupted (filed stopped or died) back at
 * the head of the run queue (READY_HEAD, above every priority), among the
 * other interrupted ones in the order their attempts started: they were
 * running, so they run first again, in their order, however the records
 * of their interruption were written.
 */
static void
job_enqueue_head(struct job *job)
{
	struct job_live	*l = queue_live(job);
	struct attempt	 a, b;
	struct job	*at;

	if (l->onready)
		return;
	if (queue_attempt(job, job->natt, &a) != 0)
		a.started = 0;
	l->level = READY_HEAD;
	TAILQ_FOREACH(at, &q.ready[l->level], live->ready) {
		if (queue_attempt(at, at->natt, &b) != 0)
			b.started = 0;
		if (b.started > a.started ||
		    (b.started == a.started && at->id > job->id))
			break;
	}
	if (at == NULL)
		TAILQ_INSERT_TAIL(&q.ready[l->level], job, live->ready);
	else
		TAILQ_INSERT_BEFORE(at, job, live->ready);
	ready_mark(l->level);
	l->onready = 1;
	l->head = 1;
}

/* Return attempt n (1-based), growing the array as needed. */
static struct attempt *
job_attempt(struct job *job, unsigned n)
{
	job_unpack(job);
	if (n > job->attcap) {
		/* Most jobs run once: no room for retries until one comes. */
		job->attcap = n == 1 ? 1 : n * 2;
		job->att = xreallocarray(job->att, job->attcap,
		    sizeof *job->att);
	}
	return &job->att[n - 1];
}

/* Count the attempts of the current run that count against max_retries. */
unsigned
queue_failures(const struct job *job)
{
	struct attempt	a;
	unsigned	i, n = 0;

	for (i = 1; i <= job->natt; i++) {
		if (queue_attempt(job, i, &a) != 0 || a.how != HOW_INTERRUPTED)
			n++;
	}
	return n;
}

/*
 * Park fn(arg) until job has no record in flight. If it has none, fn runs
 * from the next commit callback anyway, never from inside this call, so a
 * caller may park and return.
 */
void
queue_wait(struct job *job, void (*fn)(void *), void *arg)
{
	struct waiter	*w;

	w = xmalloc(sizeof *w);
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&queue_live(job)->waiters, w, entry);
}

/* Reserve name for the duration of a commit. */
static void
reserve(struct commit *c, const char *name)
{
	struct reserved	*r;

	r = xmalloc(sizeof *r);
	r->name = xstrdup(name);
	TAILQ_INSERT_TAIL(&q.reserved, r, entry);
	c->reserved = r->name;
}

/*
 * Append a record to the journal on behalf of job (which may be NULL for
 * records about the mount itself). cb runs after the record is durable and
 * applied, or with a negative errno if it could not be written.
 */
static void
commit(struct job *job, struct buf *body, const char *reserve_name,
    queue_done_cb cb, void *arg)
{
	commit_two(job, NULL, body, reserve_name, cb, arg);
}

/*
 * commit() of a record that changes a second job as well (a rename that
 * replaces a draft forgets it): every other change to either waits for it.
 */
static void
commit_two(struct job *job, struct job *other, struct buf *body,
    const char *reserve_name, queue_done_cb cb, void *arg)
{
	struct commit	*c;

	c = xcalloc(1, sizeof *c);
	c->job = job;
	c->other = other;
	c->body = *body;
	c->cb = cb;
	c->arg = arg;
	/*
	 * The records of jobs already accepted (their attempts, and rm,
	 * which frees space) may use the space held back for them.
	 */
	c->held_back = strncmp(c->body.data, "start ", 6) == 0 ||
	    strncmp(c->body.data, "end ", 4) == 0 ||
	    strncmp(c->body.data, "queue ", 6) == 0 ||
	    strncmp(c->body.data, "draft ", 6) == 0 ||
	    strncmp(c->body.data, "depfail ", 8) == 0 ||
	    strncmp(c->body.data, "rm ", 3) == 0;
	/*
	 * Nobody waits for the runner's records (see journal_append_lazy).
	 * The record that queues a job whose creator has let go ("queue",
	 * or the start of one started at once) is not one of them: until
	 * it is durable, a crash leaves the job a draft that never runs by
	 * itself, although its close returned 0. It goes out at once, or
	 * with the batch after the one in flight, whichever the journal
	 * allows first.
	 */
	c->lazy = (strncmp(c->body.data, "start ", 6) == 0 &&
	    !(job != NULL && job->state == JOB_DRAFT && job->unreleased)) ||
	    strncmp(c->body.data, "end ", 4) == 0;
	if (reserve_name != NULL)
		reserve(c, reserve_name);
	if (job != NULL)
		queue_live(job)->inflight++;
	if (other != NULL)
		queue_live(other)->inflight++;
	buf_init(body);
	commit_append(c);
}

/* Hand a commit's record to the journal. */
static void
commit_append(struct commit *c)
{
	if (c->lazy)
		journal_append_lazy(q.journal, c->body.data, c->body.len,
		    commit_done, c);
	else
		journal_append(q.journal, c->body.data, c->body.len,
		    commit_done, c);
}

/*
 * The journal has the record on stable storage (error == 0) or has given
 * up on it. Apply it, tell the caller, then let whatever waited on the job
 * go ahead.
 */
static void
commit_done(void *arg, int error)
{
	struct commit	*c = arg;
	struct job	*job = c->job, *other;
	struct reserved	*r;
	struct rec	 rec;
	const char	*why;
	int		 was;

	if (error == -ENOSPC && c->held_back && space_release() == 0) {
		/* Written again, in the next batch, with the space given. */
		commit_append(c);
		return;
	}
	if (error == -ENOSPC)
		queue_disk_full();
	if (error == 0) {
		was = job != NULL && unfinished(job);
		if (rec_parse_body(c->body.data, c->body.len, &rec, &why) != 0)
			fatalx("queue: own record unparsable: %s", why);
		if (queue_apply(&rec, 1, &why) != 0)
			fatalx("queue: own record '%s' rejected: %s",
			    rec.type, why);
		if (job != NULL && was != unfinished(job))
			q.nunfinished += was ? (uint64_t)-1 : 1;
		space_adjust(q.nunfinished);
	}
	if (c->reserved != NULL) {
		TAILQ_FOREACH(r, &q.reserved, entry) {
			if (r->name == c->reserved)
				break;
		}
		TAILQ_REMOVE(&q.reserved, r, entry);
		free(r->name);
		free(r);
	}
	if (c->cb != NULL)
		c->cb(c->arg, error);
	other = c->other;
	buf_free(&c->body);
	free(c);

	if (job != NULL)
		commit_settled(job);
	if (other != NULL)
		commit_settled(other);
	queue_deps_fail();
	run_schedule();
}

/*
 * A record of job is done with: once it has none in flight, let whatever
 * waited on it go ahead, and drop what it no longer needs.
 */
static void
commit_settled(struct job *job)
{
	struct waiters	 waiters;
	struct waiter	*w;

	if (--job->live->inflight != 0)
		return;
	TAILQ_INIT(&waiters);
	TAILQ_CONCAT(&waiters, &job->live->waiters, entry);
	while ((w = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, w, entry);
		w->fn(w->arg);
		free(w);
	}
	queue_unref(job);
}

/*
 * The disk refused a change for want of space. Removed jobs free nothing
 * until the journal is compacted, and a compaction needs room for the new
 * journal: lend it the reserve, at most every ten seconds.
 */
void
queue_disk_full(void)
{
	static int64_t	last;
	int64_t		now = util_now();

	if (last != 0 && now - last < 10 * 1000000000LL)
		return;
	last = now;
	space_lend();
	if (journal_compact(q.journal) != 0)
		log_debug("disk full: no compaction now");
}

/*
 * Announce a change of job that a live record made (watch.c): kind, from
 * state prev, at time t; a is the attempt concerned, if any.
 */
static void
announce(int live, const struct job *job, enum change_kind kind,
    enum job_state prev, int submitted, int64_t t, const struct attempt *a,
    int64_t retry_at)
{
	struct change	c;

	if (!live)
		return;
	memset(&c, 0, sizeof c);
	c.job = job;
	c.kind = kind;
	c.prev = prev;
	c.submitted = submitted;
	c.time = t;
	c.a = a;
	c.attempt = a != NULL ? job->natt : 0;
	c.retry_at = retry_at;
	if (kind == CH_FAILED && a == NULL && job->live != NULL)
		c.dep = job->live->depfail;
	watch_change(&c);
}

/* Find the job a record names. */
static int
get_job(struct rec *r, struct job **jobp, const char **why)
{
	uint64_t	id;

	if (rec_get_u64(r, "id", &id) != 0) {
		*why = "missing id";
		return -1;
	}
	if ((*jobp = queue_by_id(id)) == NULL || (*jobp)->gone) {
		*why = "no such job";
		return -1;
	}
	return 0;
}

/* Find the job a record names, which must be being written. */
static int
get_unreleased(struct rec *r, struct job **jobp, const char **why)
{
	if (get_job(r, jobp, why) != 0)
		return -1;
	if ((*jobp)->state != JOB_DRAFT || !(*jobp)->unreleased) {
		*why = "the job is not being written";
		return -1;
	}
	return 0;
}

/* The journal's replay callback. */
int
queue_replay(void *arg, struct rec *r, const char **why)
{
	return queue_apply(r, 0, why);
}

/*
 * The record types, one function each. live is 0 during replay and 1 for
 * a record the daemon has just committed; only live records have side
 * effects on processes and log files. t is the record's time (0 if none).
 * A function returns -1 with *why for a record that does not fit the
 * state (a damaged or foreign journal), having changed nothing.
 */
static const struct {
	const char	*type;
	int		(*fn)(struct rec *, int, int64_t, const char **);
	int		 logs;		/* may change what queue_logs counts */
} appliers[] = {
	{ "job",	apply_job,	1 },
	{ "new",	apply_new,	0 },
	{ "start",	apply_start,	0 },
	{ "end",	apply_end,	1 },
	{ "queue",	apply_queue,	0 },
	{ "text",	apply_text,	0 },
	{ "name",	apply_name,	0 },
	{ "move",	apply_move,	1 },
	{ "rm",		apply_rm,	1 },
	{ "draft",	apply_draft,	0 },
	{ "attr",	apply_attr,	0 },
	{ "ids",	apply_ids,	0 },
	{ "boot",	apply_boot,	0 },
	{ "next",	apply_next,	0 },
	{ "policy",	apply_policy,	0 },
	{ "depfail",	apply_depfail,	1 }
};

/*
 * Apply one record to memory (see appliers). The bytes of the finished
 * jobs' logs are counted here, as the job a record names counted before
 * and after it, so that no applier has to keep the count.
 */
static int
queue_apply(struct rec *r, int live, const char **why)
{
	struct job	*job;
	uint64_t	 id, before = 0;
	int64_t		 t;
	size_t		 i;
	int		 rv;

	if (rec_get_i64(r, "time", &t) != 0)
		t = 0;
	for (i = 0; i < sizeof appliers / sizeof appliers[0]; i++) {
		if (!rec_streq(r->type, appliers[i].type))
			continue;
		if (!appliers[i].logs)
			rv = appliers[i].fn(r, live, t, why);
		else {
			if (rec_get_u64(r, "id", &id) != 0)
				id = 0;
			if ((job = queue_by_id(id)) != NULL)
				before = queue_logs(job);
			if ((rv = appliers[i].fn(r, live, t, why)) == 0) {
				q.logs -= before;
				if ((job = queue_by_id(id)) != NULL)
					q.logs += queue_logs(job);
			}
		}
		if (rv != 0)
			return rv;
		if (q.deps_dirty)
			deps_review(live);
		return 0;
	}
	*why = "unknown record type";
	return -1;
}

/*
 * The bytes of job's log that max_logs_total counts: for a finished job,
 * the size of its output file when its last attempt ended, as the end
 * record says (the offset where it started while that record has not
 * come: a cancelled attempt); 0 for any other. Bytes that a process left
 * behind writes later are not counted.
 */
uint64_t
queue_logs(const struct job *job)
{
	struct attempt	a;

	if (job->gone || (job->state != JOB_COMPLETE &&
	    job->state != JOB_FAILED) ||
	    queue_attempt(job, job->natt, &a) != 0)
		return 0;
	return a.end != ATTEMPT_OPEN ? a.end : a.off;
}

/* The bytes of the logs of every finished job (queue_logs). */
uint64_t
queue_logs_total(void)
{
	return q.logs;
}

/*
 * "new": a job and its text. open=1: saved at a close of its creator, who
 * may still write (see fsops.c): it is a draft until its creator lets go
 * ("queue", or its start) and stays one if that never comes. draft=1: a
 * draft whatever its name (made as mkstemp(3) makes temporary files).
 */
static int
apply_new(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	const char	*name, *text;
	size_t		 len, tlen;
	uint64_t	 id, u;

	if (rec_get_u64(r, "id", &id) != 0 ||
	    (name = rec_get(r, "name", &len)) == NULL ||
	    util_valid_name(name, len) != 0 || strlen(name) != len ||
	    (text = rec_get(r, "text", &tlen)) == NULL ||
	    tlen > JOB_TEXT_MAX) {
		*why = "bad new record";
		return -1;
	}
	job = queue_by_id(id);
	if (job != NULL && (job->state != JOB_NEW || job->gone)) {
		*why = "job id in use";
		return -1;
	}
	if (job == NULL) {
		if (queue_by_name(name) != NULL) {
			*why = "job name in use";
			return -1;
		}
		job = job_alloc(id, name, text, tlen);
	} else
		job_set_text(job, text, tlen);
	if (rec_get_u64(r, "uid", &u) == 0)
		job->uid = (uid_t)u;
	if (rec_get_u64(r, "gid", &u) == 0)
		job->gid = (gid_t)u;
	if (rec_get_u64(r, "mode", &u) == 0)
		job->mode = (unsigned)(u & 0777);
	job->grpset = rec_get_u64(r, "grp", &u) == 0 && u != 0;
	job->ctime = job->mtime = t;
	if (rec_get_u64(r, "open", &u) == 0 && u != 0) {
		job_set_state(job, JOB_DRAFT);
		job_set_unreleased(job, 1);
	} else if (queue_is_draft_name(job->name) ||
	    (rec_get_u64(r, "draft", &u) == 0 && u != 0))
		job_set_state(job, JOB_DRAFT);
	else {
		job_set_state(job, JOB_PENDING);
		job_enqueue(job);
		announce(live, job, CH_PENDING, JOB_NEW, 1, t, NULL, 0);
	}
	return 0;
}

/*
 * "queue": the creator of a job saved at its close (new open=1) has let
 * go of it: its text is final and it joins the run queue's tail.
 */
static int
apply_queue(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;

	if (get_unreleased(r, &job, why) != 0)
		return -1;
	job_set_unreleased(job, 0);
	queue_live(job)->releasing = 0;
	job_set_state(job, JOB_PENDING);
	job_enqueue(job);
	job->mtime = t;
	announce(live, job, CH_PENDING, JOB_DRAFT, 1, t, NULL, 0);
	return 0;
}

/*
 * "draft": a job saved at a close of its creator whose creator never let
 * go (filed stopped or died first) stays a draft: it never runs by itself.
 */
static int
apply_draft(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;

	if (get_unreleased(r, &job, why) != 0)
		return -1;
	job_set_unreleased(job, 0);
	job->mtime = t;
	return 0;
}

/* "text": the new text of a draft, or of a job being written. */
static int
apply_text(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	const char	*text;
	size_t		 len;

	if (get_job(r, &job, why) != 0)
		return -1;
	/* A queued job that never ran: what journals of version 1 hold. */
	if ((job->state != JOB_DRAFT &&
	    (job->state != JOB_PENDING || job->natt != 0)) ||
	    (text = rec_get(r, "text", &len)) == NULL ||
	    len > JOB_TEXT_MAX) {
		*why = "text for a job that has run";
		return -1;
	}
	job_set_text(job, text, len);
	job->mtime = t;
	return 0;
}

/*
 * "name": a draft or queued job renamed within pending/. A draft given a
 * name without a leading dot is queued. over=ID: the rename replaced the
 * draft ID, which is forgotten, and the job stays a draft whatever the
 * name (an editor saving a draft never queues it).
 */
static int
apply_name(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job, *other = NULL, *holder;
	const char	*name;
	size_t		 len;
	uint64_t	 id;

	if (get_job(r, &job, why) != 0)
		return -1;
	name = rec_get(r, "name", &len);
	if (name == NULL || util_valid_name(name, len) != 0 ||
	    strlen(name) != len ||
	    (job->state != JOB_DRAFT && job->state != JOB_PENDING) ||
	    (job->state == JOB_PENDING && queue_is_draft_name(name))) {
		*why = "bad rename";
		return -1;
	}
	if (rec_get_u64(r, "over", &id) == 0 &&
	    ((other = queue_by_id(id)) == NULL || other->gone ||
	    other == job || other->state != JOB_DRAFT ||
	    job->state != JOB_DRAFT || strcmp(other->name, name) != 0)) {
		*why = "bad replacing rename";
		return -1;
	}
	if ((holder = queue_by_name(name)) != NULL && holder != job &&
	    holder != other) {
		*why = "job name in use";
		return -1;
	}
	if (other != NULL) {
		announce(live, other, CH_REMOVED, JOB_DRAFT, 0, t, NULL, 0);
		job_forget(other);
	}
	job_set_name(job, name);
	job_set_unreleased(job, 0);
	job->mtime = t;
	if (other == NULL && job->state == JOB_DRAFT &&
	    !queue_is_draft_name(name)) {
		job_set_state(job, JOB_PENDING);
		job_queue(job, live);
		announce(live, job, CH_PENDING, JOB_DRAFT, 1, t, NULL, 0);
	}
	return 0;
}

/*
 * "start": the next attempt of a queued job started, or that of a job
 * being written whose creator let go of it just then (it was started at
 * once, and this record also queues it).
 */
static int
apply_start(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	struct job_live	*l;
	struct attempt	*a;
	uint64_t	 attempt, off, u;
	enum job_state	 prev;

	if (get_job(r, &job, why) != 0)
		return -1;
	prev = job->state;
	if ((job->state != JOB_PENDING &&
	    (job->state != JOB_DRAFT || !job->unreleased)) ||
	    rec_get_u64(r, "attempt", &attempt) != 0 ||
	    attempt != (uint64_t)job->natt + 1 || attempt > JOB_NATT_MAX ||
	    rec_get_u64(r, "off", &off) != 0) {
		*why = "bad start record";
		return -1;
	}
	a = job_attempt(job, (unsigned)attempt);
	memset(a, 0, sizeof *a);
	a->started = t;
	a->off = off;
	a->end = ATTEMPT_OPEN;
	a->how = HOW_RUNNING;
	a->eol = 1;
	job->natt = (unsigned)attempt;
	job_set_unreleased(job, 0);
	l = queue_live(job);
	l->releasing = 0;
	if (l->held) {
		/* Not started by filed while held; a journal may say so. */
		TAILQ_REMOVE(&q.held, job, live->hold);
		l->held = 0;
	}
	l->pid = rec_get_u64(r, "pid", &u) == 0 ? (pid_t)u : 0;
	l->pst = rec_get_u64(r, "pst", &u) == 0 ? u : 0;
	l->boot = q.boot;
	job_set_state(job, JOB_ACTIVE);
	l->retry_at = 0;
	job->mtime = t;
	job_dequeue(job);
	announce(live, job, CH_ACTIVE, prev, prev == JOB_DRAFT, t, a, 0);
	return 0;
}

/* "end": how the running attempt ended, and where the job goes next. */
static int
apply_end(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	struct job_live	*l;
	struct attempt	*a;
	const char	*s, *how;
	uint64_t	 attempt, u;
	int64_t		 i;

	if (get_job(r, &job, why) != 0)
		return -1;
	if (rec_get_u64(r, "attempt", &attempt) != 0 ||
	    attempt == 0 || attempt != job->natt) {
		*why = "end of an unknown attempt";
		return -1;
	}
	s = rec_get(r, "next", NULL);
	if (s != NULL && job->state != JOB_ACTIVE) {
		*why = "end of a job that is not active";
		return -1;
	}
	if (s != NULL && strcmp(s, "complete") != 0 &&
	    strcmp(s, "failed") != 0 && strcmp(s, "pending") != 0) {
		*why = "bad next state";
		return -1;
	}
	job_unpack(job);
	a = &job->att[attempt - 1];
	if (a->how != HOW_CANCELLED) {
		if ((how = rec_get(r, "how", NULL)) == NULL)
			how = "";
		if (strcmp(how, "exit") == 0)
			a->how = HOW_EXIT;
		else if (strcmp(how, "signal") == 0)
			a->how = HOW_SIGNAL;
		else if (strcmp(how, "timeout") == 0)
			a->how = HOW_TIMEOUT;
		else if (strcmp(how, "interrupted") == 0)
			a->how = HOW_INTERRUPTED;
		else {
			*why = "bad end record";
			return -1;
		}
	}
	a->status = rec_get_i64(r, "status", &i) == 0 ? (int)i : 0;
	a->signal = rec_get_i64(r, "signal", &i) == 0 ? (int)i : 0;
	if (rec_get_u64(r, "end", &u) == 0)
		a->end = u;
	a->eol = rec_get_i64(r, "eol", &i) == 0 ? i != 0 : 1;
	a->ended = t;
	if (s == NULL) {
		/* details of a cancelled attempt */
		job_settle(job);
		return 0;
	}
	l = queue_live(job);
	l->pid = 0;
	job->mtime = t;
	if (strcmp(s, "complete") == 0 || strcmp(s, "failed") == 0)
		q.deps_dirty = 1;
	if (strcmp(s, "complete") == 0) {
		job_set_state(job, JOB_COMPLETE);
		announce(live, job, CH_COMPLETE, JOB_ACTIVE, 0, t, a, 0);
	} else if (strcmp(s, "failed") == 0) {
		job_set_state(job, JOB_FAILED);
		announce(live, job, CH_FAILED, JOB_ACTIVE, 0, t, a, 0);
	} else {
		job_set_state(job, JOB_PENDING);
		if (rec_get_i64(r, "retry_at", &i) != 0)
			i = 0;
		l->retry_at = i;
		if (i == 0 && a->how == HOW_INTERRUPTED)
			job_enqueue_head(job);
		else if (i == 0)
			job_enqueue(job);
		else if (live)
			run_arm_retry(job);
		announce(live, job, a->how == HOW_INTERRUPTED ?
		    CH_INTERRUPTED : CH_RETRY, JOB_ACTIVE, 0, t, a, i);
	}
	/* a points into the attempts, which packing may move. */
	job_settle(job);
	return 0;
}

/* "move": a rerun into pending/ or a cancel into failed/. */
static int
apply_move(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	struct attempt	*a = NULL;
	const char	*s, *name;
	size_t		 len;
	enum job_state	 prev;
	enum change_kind kind;

	if (get_job(r, &job, why) != 0)
		return -1;
	s = rec_get(r, "to", NULL);
	name = rec_get(r, "name", &len);
	if (s == NULL || name == NULL ||
	    util_valid_name(name, len) != 0 || strlen(name) != len ||
	    queue_is_draft_name(name) ||
	    (queue_by_name(name) != NULL && queue_by_name(name) != job)) {
		*why = "bad move record";
		return -1;
	}
	prev = job->state;
	if (strcmp(s, "pending") == 0 &&
	    (job->state == JOB_FAILED || job->state == JOB_COMPLETE)) {
		job_clear_attempts(job);
		job_set_state(job, JOB_PENDING);
		job_queue(job, live);
		kind = CH_PENDING;
	} else if (strcmp(s, "failed") == 0 &&
	    job->state == JOB_ACTIVE && job->natt > 0) {
		job_unpack(job);
		a = &job->att[job->natt - 1];
		a->how = HOW_CANCELLED;
		a->ended = t;
		job_set_state(job, JOB_FAILED);
		queue_live(job)->pid = 0;
		if (live)
			run_kill(job);
		kind = CH_CANCELLED;
		q.deps_dirty = 1;
	} else {
		*why = "move not allowed from this state";
		return -1;
	}
	if (strcmp(job->name, name) != 0)
		job_set_name(job, name);
	job->mtime = t;
	announce(live, job, kind, prev, 0, t, kind == CH_CANCELLED ? a : NULL,
	    0);
	job_settle(job);
	return 0;
}

/*
 * "rm": the job is forgotten; a running attempt is killed. why=WORD: filed
 * removed it by itself (retain.c), which only the events stream shows. A
 * complete job leaves the lists of jobs to run after: it holds nothing
 * back.
 */
static int
apply_rm(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job, *other, *next;
	struct change	 c;

	if (get_job(r, &job, why) != 0)
		return -1;
	if (job->state == JOB_NEW) {
		*why = "removal of an uncommitted job";
		return -1;
	}
	if (live) {
		run_kill(job);
		run_disarm_retry(job);
		run_log_removed(job);
		memset(&c, 0, sizeof c);
		c.job = job;
		c.kind = CH_REMOVED;
		c.prev = job->state;
		c.time = t;
		c.why = rec_get(r, "why", NULL);
		watch_change(&c);
	}
	TAILQ_FOREACH_SAFE(other, &q.afters, live->aentry, next) {
		if (other == job)
			continue;
		if (job->state == JOB_COMPLETE) {
			/* It completed: it holds nothing back any more. */
			policy_drop_after(&other->live->policy, job->id);
			deps_track(other);
			job_settle(other);
		} else if (other->live->held && other->live->depname == NULL &&
		    deps_lists(other, job->id)) {
			/* Its name, for the line of the job it dooms. */
			other->live->depfail = job->id;
			other->live->depname = xstrdup(job->name);
		}
	}
	job_forget(job);
	q.deps_dirty = 1;
	return 0;
}

/*
 * "attr": chmod/chown, of a directory, new-id or config.json (ino=) or of
 * a job (id=; grp=1 when its group was set, not its directory's).
 */
static int
apply_attr(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	uint64_t	 ino, u;

	if (rec_get_u64(r, "ino", &ino) != 0) {
		if (get_job(r, &job, why) != 0)
			return -1;
		if (rec_get_u64(r, "mode", &u) == 0)
			job->mode = (unsigned)(u & 0777);
		if (rec_get_u64(r, "uid", &u) == 0)
			job->uid = (uid_t)u;
		if (rec_get_u64(r, "gid", &u) == 0)
			job->gid = (gid_t)u;
		if (rec_get_u64(r, "grp", &u) == 0)
			job->grpset = u != 0;
		return 0;
	}
	if (ino < INO_ROOT || ino >= INO_NFIXED) {
		*why = "bad attr record";
		return -1;
	}
	if (rec_get_u64(r, "mode", &u) == 0)
		q.nodes[ino].mode = (q.nodes[ino].mode & S_IFMT) |
		    (mode_t)(u & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
	if (rec_get_u64(r, "uid", &u) == 0)
		q.nodes[ino].uid = (uid_t)u;
	if (rec_get_u64(r, "gid", &u) == 0)
		q.nodes[ino].gid = (gid_t)u;
	if (t != 0)
		q.nodes[ino].mtime = t;
	return 0;
}

/* "ids": new-id numbers below upto are reserved. */
static int
apply_ids(struct rec *r, int live, int64_t t, const char **why)
{
	uint64_t	u;

	if (rec_get_u64(r, "upto", &u) != 0) {
		*why = "bad ids record";
		return -1;
	}
	if (u > q.ids_upto)
		q.ids_upto = u;
	if (!live)
		q.ids_next = q.ids_upto;
	return 0;
}

/*
 * "boot": filed started in the boot of this id (the kernel's boot_id):
 * the attempts that start after it were started in that boot.
 */
static int
apply_boot(struct rec *r, int live, int64_t t, const char **why)
{
	const char	*id;
	size_t		 len;

	if ((id = rec_get(r, "id", &len)) == NULL || len == 0 ||
	    len >= sizeof q.boot_id) {
		*why = "bad boot record";
		return -1;
	}
	memcpy(q.boot_id, id, len + 1);
	q.boot = hash_name(id);
	return 0;
}

/* "next": the next job id (in a snapshot). */
static int
apply_next(struct rec *r, int live, int64_t t, const char **why)
{
	uint64_t	u;

	if (rec_get_u64(r, "id", &u) != 0) {
		*why = "bad next record";
		return -1;
	}
	if (u > q.next_id)
		q.next_id = u;
	idbits_init(q.next_id);
	return 0;
}

/*
 * "policy": a user.filed.* attribute of a job's policy set (value=, in
 * its canonical spelling) or removed (no value). The daemon writes one
 * for a draft or a failed job only (queue_set_policy); a snapshot writes
 * one per attribute after the "job" record of a job in any state, so a
 * job already on the run queue (not at its head) moves to the level of
 * its priority.
 */
static int
apply_policy(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	struct job_live	*l;
	const char	*key, *val;
	int		 k;

	if (get_job(r, &job, why) != 0)
		return -1;
	if ((key = rec_get(r, "key", NULL)) == NULL ||
	    (k = policy_key(key)) == -1 || job->state == JOB_NEW) {
		*why = "bad policy record";
		return -1;
	}
	val = rec_get(r, "value", NULL);
	l = queue_live(job);
	if (policy_set(&l->policy, k, val) != 0) {
		job_settle(job);
		*why = "bad policy value";
		return -1;
	}
	deps_track(job);
	if (l->onready && !l->head && l->level != job_level(job)) {
		job_dequeue(job);
		job_enqueue(job);
	}
	job_settle(job);
	return 0;
}

/*
 * "depfail": a queued job held for the jobs it runs after, one of which
 * (dep=, name=) failed or went before it completed, moves to failed/
 * without running. Its own dependents are looked at again.
 */
static int
apply_depfail(struct rec *r, int live, int64_t t, const char **why)
{
	struct job	*job;
	struct job_live	*l;
	const char	*name;
	uint64_t	 dep, bad;

	if (get_job(r, &job, why) != 0)
		return -1;
	l = job->live;
	if (rec_get_u64(r, "dep", &dep) != 0 ||
	    (name = rec_get(r, "name", NULL)) == NULL ||
	    job->state != JOB_PENDING || l == NULL || !l->held ||
	    deps_state(job, &bad) != -1) {
		*why = "bad depfail record";
		return -1;
	}
	TAILQ_REMOVE(&q.held, job, live->hold);
	l->held = 0;
	l->depfail = dep;
	free(l->depname);
	l->depname = xstrdup(name);
	job_set_state(job, JOB_FAILED);
	job->mtime = t;
	q.deps_dirty = 1;
	announce(live, job, CH_FAILED, JOB_PENDING, 0, t, NULL, 0);
	job_settle(job);
	return 0;
}

/*
 * Read a decimal number at *sp as sscanf's %llu does for what
 * snapshot_job writes (digits, a '-' before a negative one, which wraps
 * around) and move *sp past it. 0, or -1 if there is none or it overflows.
 */
static int
parse_attempt_num(const char **sp, uint64_t *out)
{
	const char	*s = *sp;
	uint64_t	 n = 0;
	unsigned	 d;
	int		 neg = 0;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = neg ? -n : n;
	*sp = s;
	return 0;
}

/*
 * Parse the attempts of a snapshot "job" record: a,b,... of 8 numbers
 * separated by ':'. By hand rather than with sscanf, which was a fifth of
 * the replay of a compacted journal.
 */
static int
parse_attempts(struct job *job, const char *s)
{
	struct attempt	*a;
	uint64_t	 v[8];
	int		 i;

	while (*s != '\0') {
		for (i = 0; i < 8; i++) {
			if ((i > 0 && *s++ != ':') ||
			    parse_attempt_num(&s, &v[i]) != 0)
				return -1;
		}
		if (v[4] > HOW_CANCELLED || job->natt == JOB_NATT_MAX)
			return -1;
		a = job_attempt(job, job->natt + 1);
		a->started = (int64_t)v[0];
		a->ended = (int64_t)v[1];
		a->off = v[2];
		a->end = v[3];
		a->how = (int)v[4];
		a->status = (int)(int64_t)v[5];
		a->signal = (int)v[6];
		a->eol = v[7] != 0;
		job->natt++;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return -1;
	}
	return 0;
}

/* "job": a whole job as compaction wrote it (a snapshot). */
static int
apply_job(struct rec *r, int live, int64_t t, const char **why)
{
	static const char *states[] = { "new", "draft", "pending", "active",
	    "failed", "complete" };
	struct job	*job;
	struct job_live	*l;
	const char	*name, *text, *st, *att, *dn;
	size_t		 len, tlen, i;
	uint64_t	 id, u;
	int64_t		 v;

	if (rec_get_u64(r, "id", &id) != 0 ||
	    (name = rec_get(r, "name", &len)) == NULL ||
	    util_valid_name(name, len) != 0 || strlen(name) != len ||
	    (text = rec_get(r, "text", &tlen)) == NULL ||
	    tlen > JOB_TEXT_MAX ||
	    (st = rec_get(r, "state", NULL)) == NULL ||
	    (att = rec_get(r, "att", NULL)) == NULL) {
		*why = "bad job record";
		return -1;
	}
	for (i = 1; i < sizeof states / sizeof states[0]; i++) {
		if (strcmp(st, states[i]) == 0)
			break;
	}
	if (i == sizeof states / sizeof states[0]) {
		*why = "bad job state";
		return -1;
	}
	if (queue_by_id(id) != NULL || queue_by_name(name) != NULL) {
		*why = "job id or name in use";
		return -1;
	}
	job = job_alloc(id, name, text, tlen);
	job_set_state(job, (enum job_state)i);
	if (rec_get_u64(r, "uid", &u) == 0)
		job->uid = (uid_t)u;
	if (rec_get_u64(r, "gid", &u) == 0)
		job->gid = (gid_t)u;
	if (rec_get_u64(r, "mode", &u) == 0)
		job->mode = (unsigned)(u & 0777);
	job->grpset = rec_get_u64(r, "grp", &u) == 0 && u != 0;
	job_set_unreleased(job, job->state == JOB_DRAFT &&
	    rec_get_u64(r, "open", &u) == 0 && u != 0);
	job->ctime = rec_get_i64(r, "ctime", &v) == 0 ? v : 0;
	job->mtime = rec_get_i64(r, "time", &v) == 0 ? v : 0;
	if (parse_attempts(job, att) != 0 ||
	    (job->state == JOB_ACTIVE && job->natt == 0)) {
		*why = "bad attempts in job record";
		job_forget(job);
		return -1;
	}
	if (job->state == JOB_FAILED && rec_get_u64(r, "dep", &u) == 0 &&
	    u != 0 && (dn = rec_get(r, "depname", NULL)) != NULL) {
		queue_live(job)->depfail = u;
		queue_live(job)->depname = xstrdup(dn);
	}
	/* The retry time and the process mean something only to these. */
	if (job->state == JOB_PENDING || job->state == JOB_ACTIVE) {
		l = queue_live(job);
		l->retry_at = rec_get_i64(r, "retry_at", &v) == 0 ? v : 0;
		l->pid = rec_get_u64(r, "pid", &u) == 0 ? (pid_t)u : 0;
		l->pst = rec_get_u64(r, "pst", &u) == 0 ? u : 0;
		l->boot = rec_get_u64(r, "boot", &u) == 0 ? u : 0;
		if (job->state == JOB_PENDING && l->retry_at == 0) {
			if (rec_get_u64(r, "head", &u) == 0 && u != 0)
				job_enqueue_head(job);
			else if (rec_get_u64(r, "held", &u) == 0 && u != 0)
				job_hold(job, 0);
			else
				job_enqueue(job);
		}
	}
	job_settle(job);
	return 0;
}

/*
 * Append the snapshot body of one job; att is a buffer for its attempts,
 * reused from one job to the next.
 */
static void
snapshot_job(struct buf *out, struct buf *att, const struct job *job)
{
	const struct job_live	*l = job->live;
	struct attempt		 a;
	char			 s[8 * (REC_NUMLEN + 1)];
	int64_t			 iv[8] = { 0 };
	size_t			 n;
	unsigned		 i, k;

	/*
	 * A packed job kept its last attempt only (job_pack); the earlier
	 * ones, which it never shows, are written as zeros, so that the
	 * count is kept and any reader of this format takes the record.
	 * The retry time and the process mean something only to a job that
	 * is pending or active; a finished job that keeps its live part for
	 * its policy writes none (replay would not keep them).
	 */
	if (job->state != JOB_PENDING && job->state != JOB_ACTIVE)
		l = NULL;
	buf_reset(att);
	for (i = 1; i <= job->natt; i++) {
		if (queue_attempt(job, i, &a) != 0)
			memset(&a, 0, sizeof a);
		/* started:ended:off:end:how:status:signal:eol, by hand */
		iv[0] = a.started;
		iv[1] = a.ended;
		iv[4] = a.how;
		iv[5] = a.status;
		iv[6] = a.signal;
		iv[7] = a.eol;
		n = 0;
		if (i > 1)
			s[n++] = ',';
		for (k = 0; k < 8; k++) {
			if (k > 0)
				s[n++] = ':';
			if (k == 2 || k == 3)
				n += rec_fmt_u64(s + n, k == 2 ? a.off : a.end);
			else
				n += rec_fmt_i64(s + n, iv[k]);
		}
		buf_add(att, s, n);
	}
	rec_begin(out, "job");
	rec_add_u64(out, "id", job->id);
	rec_add_str(out, "name", job->name);
	rec_add_str(out, "state", queue_state_name(job->state));
	rec_add_u64(out, "uid", job->uid);
	rec_add_u64(out, "gid", job->gid);
	rec_add_i64(out, "ctime", job->ctime);
	rec_add_i64(out, "time", job->mtime);
	rec_add_i64(out, "retry_at", l != NULL ? l->retry_at : 0);
	rec_add_u64(out, "pid", l != NULL ? (uint64_t)l->pid : 0);
	rec_add_u64(out, "pst", l != NULL ? l->pst : 0);
	if (job->state == JOB_ACTIVE && l != NULL && l->boot != 0)
		rec_add_u64(out, "boot", l->boot);
	if (l != NULL && l->head)
		rec_add_u64(out, "head", 1);
	if (l != NULL && l->held)
		rec_add_u64(out, "held", 1);
	if (job->unreleased)
		rec_add_u64(out, "open", 1);
	if (job->mode != JOB_MODE_DEFAULT)
		rec_add_u64(out, "mode", job->mode);
	if (job->grpset)
		rec_add_u64(out, "grp", 1);
	if (job->state == JOB_FAILED && job->live != NULL &&
	    job->live->depfail != 0) {
		rec_add_u64(out, "dep", job->live->depfail);
		rec_add_str(out, "depname", job->live->depname);
	}
	rec_add(out, "att", att->data != NULL ? att->data : "", att->len);
	rec_add(out, "text", queue_text(job), job->textlen);
	buf_addc(out, '\n');
	if (job->live != NULL)
		policy_snapshot(job->live->policy, job->id, out);
}

/*
 * The journal's compaction callback: the bodies of records that recreate
 * the committed state, one per line. Jobs on the run queue come first, in
 * queue order, so that replay rebuilds the same order; jobs still being
 * written by their creator (never committed) are not part of it.
 */
void
queue_snapshot(void *arg, struct buf *out)
{
	struct buf	 att;
	struct job	*job;
	uint64_t	 ino;
	int		 i;
	unsigned	 level;

	rec_begin(out, "next");
	rec_add_u64(out, "id", q.next_id);
	buf_addc(out, '\n');
	rec_begin(out, "ids");
	rec_add_u64(out, "upto", q.ids_upto);
	buf_addc(out, '\n');
	if (q.boot_id[0] != '\0') {
		rec_begin(out, "boot");
		rec_add_str(out, "id", q.boot_id);
		buf_addc(out, '\n');
	}
	for (ino = INO_PENDING; ino < INO_NFIXED; ino++) {
		rec_begin(out, "attr");
		rec_add_u64(out, "ino", ino);
		rec_add_u64(out, "mode", q.nodes[ino].mode & 07777);
		rec_add_u64(out, "uid", q.nodes[ino].uid);
		rec_add_u64(out, "gid", q.nodes[ino].gid);
		rec_add_i64(out, "time", q.nodes[ino].mtime);
		buf_addc(out, '\n');
	}
	buf_init(&att);
	for (level = READY_LEVELS; level-- > 0;) {
		TAILQ_FOREACH(job, &q.ready[level], live->ready)
			snapshot_job(out, &att, job);
	}
	for (i = INO_PENDING; i <= INO_COMPLETE; i++) {
		TAILQ_FOREACH(job, queue_dir_jobs(i), all) {
			if (job->state != JOB_NEW &&
			    (job->live == NULL || !job->live->onready))
				snapshot_job(out, &att, job);
		}
	}
	buf_free(&att);
}

/*
 * Create a job being written through its creator's open file: it takes
 * its name now, so that nobody else can, and is journaled when its text
 * is first saved. tmp: made as mkstemp(3) makes a temporary file
 * (O_RDWR|O_CREAT|O_EXCL), which makes it a draft whatever its name.
 */
int
queue_new(const char *name, uid_t uid, gid_t gid, int tmp, struct job **jobp)
{
	struct job	*job;
	int		 error;

	if ((error = util_valid_name(name, strlen(name))) != 0)
		return error;
	if (!queue_name_free(name))
		return -EEXIST;
	job = job_alloc(q.next_id, name, "", 0);
	job_set_state(job, JOB_NEW);
	job->uid = uid;
	job->gid = gid;
	job->held = 1;
	queue_live(job)->tmp = tmp;
	job->ctime = job->mtime = util_now();
	*jobp = job;
	return 0;
}

/* Drop a job that was never committed (its creator failed or gave up). */
void
queue_abandon(struct job *job)
{
	if (job->state != JOB_NEW)
		return;
	job_forget(job);
}

/*
 * Is job a draft, or one in the making: kept and never run by itself?
 * A job being written (unreleased) is not: it runs once its creator lets
 * go of it.
 */
int
queue_draftlike(const struct job *job)
{
	if (job->state == JOB_NEW)
		return queue_is_draft_name(job->name) || job->live->tmp;
	return job->state == JOB_DRAFT && !job->unreleased;
}

/*
 * Is job's text final: queued, running or finished, or a job being
 * written whose creator has let go (the record that queues it is on its
 * way)? Then nobody may write it.
 */
int
queue_text_fixed(const struct job *job)
{
	if (job->state == JOB_NEW)
		return 0;
	if (job->state == JOB_DRAFT)
		return job->unreleased && job->live != NULL &&
		    job->live->releasing;
	return 1;
}

/* The state a user sees in user.filed.state. */
const char *
queue_user_state(const struct job *job)
{
	if (job->state == JOB_DRAFT && job->unreleased) {
		if (job->held)
			return "new";
		if (job->live != NULL && job->live->releasing)
			return "pending";
	}
	return queue_state_name(job->state);
}

/*
 * Journal a new job (or draft) with its text; cb runs once it is durable.
 * open: saved at a close of the creator of a job, who may still write:
 * it stays a draft until queue_release (or its start) says the creator
 * let go, and for good if that never comes.
 */
void
queue_submit(struct job *job, const char *text, size_t len, int open,
    queue_done_cb cb, void *arg)
{
	struct buf	body;

	buf_init(&body);
	rec_begin(&body, "new");
	rec_add_u64(&body, "id", job->id);
	rec_add_str(&body, "name", job->name);
	rec_add_u64(&body, "uid", job->uid);
	rec_add_u64(&body, "gid", job->gid);
	rec_add_i64(&body, "time", util_now());
	if (open)
		rec_add_u64(&body, "open", 1);
	else if (job->live->tmp && !queue_is_draft_name(job->name))
		rec_add_u64(&body, "draft", 1);
	if (job->mode != JOB_MODE_DEFAULT)
		rec_add_u64(&body, "mode", job->mode);
	if (job->grpset)
		rec_add_u64(&body, "grp", 1);
	rec_add(&body, "text", text, len);
	commit(job, &body, NULL, cb, arg);
}

/* Replace the text of a draft or of a job being written. */
int
queue_set_text(struct job *job, const char *text, size_t len,
    queue_done_cb cb, void *arg)
{
	struct buf	body;

	if (job->state != JOB_DRAFT)
		return -EACCES;
	buf_init(&body);
	rec_begin(&body, "text");
	rec_add_u64(&body, "id", job->id);
	rec_add_i64(&body, "time", util_now());
	rec_add(&body, "text", text, len);
	commit(job, &body, NULL, cb, arg);
	return 0;
}

/*
 * Rename a draft or a queued job within pending/. A draft given a name
 * without a leading dot is queued; a queued job cannot become a draft.
 * over: the draft that has the name now, which a draft replaces (as an
 * editor saves a file: a temporary file renamed over it); the result is
 * a draft. Neither may be being written by its creator (EBUSY).
 */
int
queue_rename(struct job *job, const char *name, struct job *over,
    queue_done_cb cb, void *arg)
{
	struct buf	body;
	int		error;

	if (job->state == JOB_NEW || job->held)
		return -EBUSY;
	if (job->state != JOB_DRAFT && job->state != JOB_PENDING)
		return -EPERM;
	if ((error = util_valid_name(name, strlen(name))) != 0)
		return error;
	if (job->state == JOB_PENDING && queue_is_draft_name(name))
		return -EPERM;
	if (over != NULL) {
		if (over->state == JOB_NEW || over->held)
			return -EBUSY;
		if (job->state != JOB_DRAFT || over->state != JOB_DRAFT)
			return -EEXIST;
	} else if (strcmp(name, job->name) != 0 && !queue_name_free(name))
		return -EEXIST;
	buf_init(&body);
	rec_begin(&body, "name");
	rec_add_u64(&body, "id", job->id);
	rec_add_str(&body, "name", name);
	if (over != NULL)
		rec_add_u64(&body, "over", over->id);
	rec_add_i64(&body, "time", util_now());
	commit_two(job, over, &body, over != NULL ? NULL : name, cb, arg);
	return 0;
}

static void	 released_done(void *, int);
static void	 released_again(void *);
static void	 released_again_now(void *);
static void	 released_drop(void *);

/*
 * The creator of a job being written let go of it: journal that it is
 * queued ("queue"), at once (see commit). A refused record is tried again
 * every second: the job's close returned 0, it must not be dropped.
 */
void
queue_release(struct job *job)
{
	struct buf	body;

	if (job->gone || job->state != JOB_DRAFT || !job->unreleased)
		return;
	if (queue_inflight(job) != 0) {
		queue_wait(job, released_again_now, job);
		return;
	}
	buf_init(&body);
	rec_begin(&body, "queue");
	rec_add_u64(&body, "id", job->id);
	rec_add_i64(&body, "time", util_now());
	queue_live(job)->pinned++;
	commit(job, &body, NULL, released_done, job);
}

/* The record that queues a released job is committed, or was refused. */
static void
released_done(void *arg, int error)
{
	struct job	*job = arg;

	if (error == 0 || job->gone) {
		released_drop(job);
		return;
	}
	log_warnx("job '%s': cannot record that it is queued: %s; trying "
	    "again in 1 s", job->name, strerror(-error));
	run_later(released_again, released_drop, job, 1000);
}

/* Try again to queue a released job. */
static void
released_again(void *arg)
{
	struct job	*job = arg;

	job->live->pinned--;
	queue_release(job);
	queue_unref(job);
}

/* Queue a released job once its record in flight is committed. */
static void
released_again_now(void *arg)
{
	queue_release(arg);
}

/* Let go of a released job (queued, gone, or filed stops). */
static void
released_drop(void *arg)
{
	struct job	*job = arg;

	job->live->pinned--;
	queue_unref(job);
}

/*
 * At start: jobs saved at a close of their creator whose creator never let
 * go (filed stopped or died while they were written) are kept as drafts,
 * never run by themselves: their text may be partial. Logs each one.
 */
void
queue_keep_unreleased(void)
{
	struct job	*job;
	struct buf	 body;

	TAILQ_FOREACH(job, queue_dir_jobs(INO_PENDING), all) {
		if (job->state != JOB_DRAFT || !job->unreleased)
			continue;
		log_warnx("job '%s': filed stopped while it was being written "
		    "(its creator never closed it): kept as a draft, not run",
		    job->name);
		buf_init(&body);
		rec_begin(&body, "draft");
		rec_add_u64(&body, "id", job->id);
		rec_add_i64(&body, "time", util_now());
		commit(job, &body, NULL, NULL, NULL);
	}
}

/* At stop: log the jobs still being written, which stay drafts. */
void
queue_log_unreleased(void)
{
	struct job	*job;

	TAILQ_FOREACH(job, queue_dir_jobs(INO_PENDING), all) {
		if ((job->state == JOB_DRAFT && job->unreleased) ||
		    (job->state == JOB_NEW && !queue_draftlike(job)))
			log_warnx("job '%s': still being written as filed "
			    "stops: %s", job->name, job->state == JOB_NEW ?
			    "never saved, dropped" : "kept as a draft, not run");
	}
}

/*
 * chmod/chown of a job: its permission bits, owner and group (grpset: a
 * group of its own rather than its directory's).
 */
int
queue_set_attr(struct job *job, mode_t mode, uid_t uid, gid_t gid,
    int grpset, queue_done_cb cb, void *arg)
{
	struct buf	body;

	if (job->state == JOB_NEW)
		return -EBUSY;
	buf_init(&body);
	rec_begin(&body, "attr");
	rec_add_u64(&body, "id", job->id);
	rec_add_u64(&body, "mode", mode & 0777);
	rec_add_u64(&body, "uid", uid);
	rec_add_u64(&body, "gid", gid);
	rec_add_u64(&body, "grp", grpset != 0);
	commit(job, &body, NULL, cb, arg);
	return 0;
}

/*
 * May job's policy (user.filed.*) be set now? Only that of a draft, before
 * it is queued, and of a failed job, before it is run again: a job that
 * is queued, running or complete keeps the policy it has.
 */
int
queue_policy_writable(const struct job *job)
{
	return (job->state == JOB_DRAFT && !job->unreleased) ||
	    job->state == JOB_FAILED;
}

/*
 * Set key k of job's policy to the canonical value val (policy_parse), or
 * remove it (val NULL). -EBUSY for a job not yet saved, -EPERM for one
 * whose policy may not change (queue_policy_writable).
 */
int
queue_set_policy(struct job *job, int k, const char *val, queue_done_cb cb,
    void *arg)
{
	struct buf	body;

	if (job->state == JOB_NEW)
		return -EBUSY;
	if (!queue_policy_writable(job))
		return -EPERM;
	buf_init(&body);
	rec_begin(&body, "policy");
	rec_add_u64(&body, "id", job->id);
	rec_add_str(&body, "key", policy_name(k));
	if (val != NULL)
		rec_add_str(&body, "value", val);
	rec_add_i64(&body, "time", util_now());
	commit(job, &body, NULL, cb, arg);
	return 0;
}

/*
 * Does from run after target, however far down the lists of jobs to run
 * after? A search that takes more than *budget steps says yes, to be safe.
 */
static int
after_reaches(uint64_t from, uint64_t target, unsigned *budget)
{
	struct job	*job;
	const uint64_t	*ids;
	unsigned	 n, i;

	if (from == target || *budget == 0)
		return 1;
	(*budget)--;
	if ((job = queue_by_id(from)) == NULL || job->live == NULL)
		return 0;
	ids = policy_after(job->live->policy, &n);
	for (i = 0; i < n; i++) {
		if (after_reaches(ids[i], target, budget))
			return 1;
	}
	return 0;
}

/*
 * Parse NAME,NAME,... (user.filed.after of job, len bytes) into the
 * canonical list of their ids in canon. Each name must be a job (-ENOENT)
 * that is neither a draft nor job itself, nor runs after job however far
 * down (-EINVAL): so no cycle can form. *cause says which, for the log.
 */
int
queue_after_parse(const struct job *job, const char *val, size_t len,
    struct buf *canon, char **cause)
{
	struct job	*dep;
	uint64_t	*ids = NULL;
	unsigned	 n = 0, i, budget;
	char		*s, *p, *name, pbuf[80];
	int		 rv = -EINVAL;

	if (memchr(val, '\0', len) != NULL) {
		*cause = xstrdup("after: a NUL byte in the value");
		return -EINVAL;
	}
	p = s = xstrndup(val, len);
	while ((name = strsep(&p, ",")) != NULL) {
		if (*name == '\0') {
			*cause = xstrdup("after: an empty name; give job names "
			    "separated by commas");
			goto out;
		}
		if ((dep = queue_by_name(name)) == NULL) {
			*cause = xasprintf("after: no job '%s'",
			    util_printable(name, pbuf, sizeof pbuf));
			rv = -ENOENT;
			goto out;
		}
		if (dep->state == JOB_NEW || dep->state == JOB_DRAFT) {
			*cause = xasprintf("after: '%s' is a draft, or still "
			    "being written", dep->name);
			goto out;
		}
		budget = 10000;
		if (dep == job || after_reaches(dep->id, job->id, &budget)) {
			*cause = xasprintf("after: '%s' runs after this job "
			    "(a cycle)", dep->name);
			goto out;
		}
		for (i = 0; i < n && ids[i] < dep->id; i++)
			;
		if (i < n && ids[i] == dep->id)
			continue;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		memmove(&ids[i + 1], &ids[i], (n - i) * sizeof *ids);
		ids[i] = dep->id;
		n++;
	}
	for (i = 0; i < n; i++)
		buf_printf(canon, "%s%llu", i > 0 ? "," : "",
		    (unsigned long long)ids[i]);
	rv = 0;
out:
	free(ids);
	free(s);
	return rv;
}

/*
 * Put the names of the jobs p runs after into b, comma-separated, as
 * getfattr shows user.filed.after; one that is gone shows as #ID.
 */
void
queue_after_names(const struct policy *p, struct buf *b)
{
	const uint64_t	*ids;
	struct job	*dep;
	unsigned	 n, i;

	ids = policy_after(p, &n);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(b, ',');
		if ((dep = queue_by_id(ids[i])) != NULL && !dep->gone)
			buf_adds(b, dep->name);
		else
			buf_printf(b, "#%llu", (unsigned long long)ids[i]);
	}
}

/*
 * Move to failed/ each held job one of whose jobs failed or went before it
 * completed: a "depfail" record each, once it has no other record in
 * flight. Runs after every live commit that left one doomed, and at start
 * for those a crash left so. A refused record is tried again at the next
 * commit.
 */
void
queue_deps_fail(void)
{
	struct job	*job, *dep;
	struct buf	 body;
	uint64_t	 bad;
	char		 idname[32];
	const char	*name;

	if (!q.doomed || !queue_writable())
		return;
	TAILQ_FOREACH(job, &q.held, live->hold) {
		if (job->live->inflight != 0 || deps_state(job, &bad) != -1)
			continue;
		if (job->live->depname != NULL && job->live->depfail == bad)
			name = job->live->depname;
		else if ((dep = queue_by_id(bad)) != NULL && !dep->gone)
			name = dep->name;
		else {
			snprintf(idname, sizeof idname, "#%llu",
			    (unsigned long long)bad);
			name = idname;
		}
		log_info("job '%s': failed without running: job '%s', which "
		    "it runs after, did not complete", job->name, name);
		buf_init(&body);
		rec_begin(&body, "depfail");
		rec_add_u64(&body, "id", job->id);
		rec_add_u64(&body, "dep", bad);
		rec_add_str(&body, "name", name);
		rec_add_i64(&body, "time", util_now());
		commit(job, &body, NULL, NULL, NULL);
	}
}

/* Journal the boot filed runs in, before any attempt starts. */
void
queue_boot(const char *id, queue_done_cb cb, void *arg)
{
	struct buf	body;

	buf_init(&body);
	rec_begin(&body, "boot");
	rec_add_str(&body, "id", id);
	commit(NULL, &body, NULL, cb, arg);
}

/*
 * At start: journal the boot filed runs in (the kernel's boot_id), unless
 * the journal says so already; attempts that start afterwards started in
 * it.
 */
void
queue_boot_start(const char *id)
{
	if (id[0] == '\0' || strcmp(id, q.boot_id) == 0)
		return;
	queue_boot(id, NULL, NULL);
}

/*
 * Did job's running attempt start in the boot of this id? 1 yes, 0 no
 * (its processes are gone with that boot, and its pid may name anything
 * now), -1 unknown (a journal that did not say).
 */
int
queue_same_boot(const struct job *job, const char *id)
{
	if (job->live == NULL || job->live->boot == 0 || id[0] == '\0')
		return -1;
	return job->live->boot == hash_name(id);
}

/* Write a "move" record: rerun into pending/ or cancel into failed/. */
static int
queue_move(struct job *job, const char *to, const char *name,
    queue_done_cb cb, void *arg)
{
	struct buf	body;
	int		error;

	if ((error = util_valid_name(name, strlen(name))) != 0)
		return error;
	if (queue_is_draft_name(name))
		return -EPERM;
	if (strcmp(name, job->name) != 0 && !queue_name_free(name))
		return -EEXIST;
	buf_init(&body);
	rec_begin(&body, "move");
	rec_add_u64(&body, "id", job->id);
	rec_add_str(&body, "to", to);
	rec_add_str(&body, "name", name);
	rec_add_i64(&body, "time", util_now());
	commit(job, &body, name, cb, arg);
	return 0;
}

/* Run a failed or complete job again, with a fresh retry count. */
int
queue_rerun(struct job *job, const char *name, queue_done_cb cb, void *arg)
{
	if (job->state != JOB_FAILED && job->state != JOB_COMPLETE)
		return -EPERM;
	return queue_move(job, "pending", name, cb, arg);
}

/* Cancel a running job, keeping it and its log in failed/. */
int
queue_cancel(struct job *job, const char *name, queue_done_cb cb, void *arg)
{
	if (job->state != JOB_ACTIVE)
		return -EPERM;
	return queue_move(job, "failed", name, cb, arg);
}

/* Forget a job: cancel it if it runs, delete its log. */
int
queue_remove(struct job *job, queue_done_cb cb, void *arg)
{
	return queue_remove_why(job, NULL, cb, arg);
}

/*
 * queue_remove, made by filed itself rather than a user (retain.c): the
 * same "rm" record, applied and announced the same way, with why (a word,
 * or NULL for a user's rm) in it for the events stream to show.
 */
int
queue_remove_why(struct job *job, const char *why, queue_done_cb cb,
    void *arg)
{
	struct buf	body;

	if (job->state == JOB_NEW) {
		queue_abandon(job);
		if (cb != NULL)
			cb(arg, 0);
		return 0;
	}
	buf_init(&body);
	rec_begin(&body, "rm");
	rec_add_u64(&body, "id", job->id);
	if (why != NULL)
		rec_add_str(&body, "why", why);
	rec_add_i64(&body, "time", util_now());
	commit(job, &body, NULL, cb, arg);
	return 0;
}

/* chmod/chown of a directory, new-id or config.json. */
int
queue_set_node(uint64_t ino, mode_t mode, uid_t uid, gid_t gid,
    queue_done_cb cb, void *arg)
{
	struct buf	body;

	if (ino < INO_PENDING || ino >= INO_NFIXED)
		return -EPERM;
	buf_init(&body);
	rec_begin(&body, "attr");
	rec_add_u64(&body, "ino", ino);
	rec_add_u64(&body, "mode", mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
	rec_add_u64(&body, "uid", uid);
	rec_add_u64(&body, "gid", gid);
	rec_add_i64(&body, "time", util_now());
	commit(NULL, &body, NULL, cb, arg);
	return 0;
}

/* Reserve new-id numbers below upto. */
void
queue_ids(uint64_t upto, queue_done_cb cb, void *arg)
{
	struct buf	body;

	buf_init(&body);
	rec_begin(&body, "ids");
	rec_add_u64(&body, "upto", upto);
	commit(NULL, &body, NULL, cb, arg);
}

/* The next new-id number to hand out; take it if take is set. */
uint64_t
queue_ids_next(int take)
{
	return take ? q.ids_next++ : q.ids_next;
}

/* The bound of the reserved new-id numbers. */
uint64_t *
queue_ids_upto(void)
{
	return &q.ids_upto;
}

/*
 * The first job that may start now, or NULL: the first of the highest
 * level of the run queue that holds one, found through the bitmap. A job
 * with a record in flight is passed over (a rare moment), so the cost is
 * that of the levels that hold jobs, not of the jobs queued.
 */
struct job *
queue_next_ready(void)
{
	struct job	*job;
	struct job_live	*l;
	uint64_t	 bits;
	unsigned	 w, b = 0;

	for (w = READY_WORDS; w-- > 0;) {
		for (bits = q.readymap[w]; bits != 0; bits &= ~(1ULL << b)) {
			b = 63 - (unsigned)__builtin_clzll(bits);
			TAILQ_FOREACH(job, &q.ready[w * 64 + b],
			    live->ready) {
				l = job->live;
				if (l->inflight == 0 && l->run == NULL &&
				    TAILQ_EMPTY(&l->waiters))
					return job;
			}
		}
	}
	return NULL;
}

/*
 * The start of an attempt could not be recorded (a full or failing disk).
 * An attempt the journal does not know of must not go on: run.c kills it
 * without recording anything, and the job tries again in a second.
 */
static void
started_done(void *arg, int error)
{
	struct job	*job = arg;

	if (error == 0 || job->gone)
		return;
	log_warnx("job '%s': cannot record the start of attempt %u: %s; "
	    "stopping it, trying again in 1 s", job->name, job->natt + 1,
	    strerror(-error));
	run_unrecorded(job);
	if (job->state == JOB_DRAFT && job->unreleased) {
		/* Started as its creator let go: queue it the usual way. */
		queue_release(job);
		return;
	}
	queue_live(job)->retry_at = util_now() + 1000000000;
	run_arm_retry(job);
}

/* Record that the next attempt of job started as pid, output at off. */
void
queue_started(struct job *job, pid_t pid, uint64_t pst, uint64_t off)
{
	struct buf	body;

	job_dequeue(job);
	buf_init(&body);
	rec_begin(&body, "start");
	rec_add_u64(&body, "id", job->id);
	rec_add_u64(&body, "attempt", job->natt + 1);
	rec_add_u64(&body, "pid", (uint64_t)pid);
	rec_add_u64(&body, "pst", pst);
	rec_add_u64(&body, "off", off);
	rec_add_i64(&body, "time", util_now());
	commit(job, &body, NULL, started_done, job);
}

struct ended {
	struct job	*job;
	struct attempt	 a;
	int		 next;
	int64_t		 retry_at;
};

/* Retry queue_ended once the job's earlier records are committed. */
static void
ended_retry(void *arg)
{
	struct ended	*e = arg;

	queue_ended(e->job, &e->a, e->next, e->retry_at);
	free(e);
}

/* Try again to record an attempt's end that a full disk refused. */
static void
ended_again(void *arg)
{
	struct ended	*e = arg;
	struct job	*job = e->job;

	job->live->pinned--;
	queue_ended(job, &e->a, e->next, e->retry_at);
	free(e);
	queue_unref(job);
}

/* Drop a pending retry at shutdown. */
static void
ended_drop(void *arg)
{
	struct ended	*e = arg;

	e->job->live->pinned--;
	queue_unref(e->job);
	free(e);
}

/*
 * The end of an attempt is committed, or was refused. A refused end is
 * tried again every second until the disk takes it: the transition is
 * real (the process is gone), and dropping it would strand the job in
 * active/.
 */
static void
ended_done(void *arg, int error)
{
	struct ended	*e = arg;

	if (error == 0 || e->job->gone) {
		ended_drop(e);
		return;
	}
	log_warnx("job '%s': cannot record the end of attempt %u: %s; "
	    "trying again in 1 s", e->job->name, e->job->natt,
	    strerror(-error));
	run_later(ended_again, ended_drop, e, 1000);
}

/*
 * Record how the running attempt of job ended and where the job goes next
 * (JOB_COMPLETE, JOB_FAILED, JOB_PENDING with retry_at), or with next < 0
 * only the attempt's details (for a job already cancelled into failed/).
 */
void
queue_ended(struct job *job, const struct attempt *a, int next,
    int64_t retry_at)
{
	struct ended	*e;
	struct buf	 body;
	const char	*how = "exit";

	if (queue_inflight(job) != 0) {
		e = xmalloc(sizeof *e);
		e->job = job;
		e->a = *a;
		e->next = next;
		e->retry_at = retry_at;
		queue_wait(job, ended_retry, e);
		return;
	}
	if (job->gone)
		return;
	if (next >= 0 && job->state != JOB_ACTIVE)
		next = -1;
	if (next < 0 && job->state != JOB_FAILED)
		return;
	switch (a->how) {
	case HOW_SIGNAL:
		how = "signal";
		break;
	case HOW_TIMEOUT:
		how = "timeout";
		break;
	case HOW_INTERRUPTED:
		how = "interrupted";
		break;
	}
	buf_init(&body);
	rec_begin(&body, "end");
	rec_add_u64(&body, "id", job->id);
	rec_add_u64(&body, "attempt", job->natt);
	rec_add_str(&body, "how", how);
	rec_add_i64(&body, "status", a->status);
	rec_add_i64(&body, "signal", a->signal);
	rec_add_u64(&body, "end", a->end);
	rec_add_i64(&body, "eol", a->eol);
	rec_add_i64(&body, "time", util_now());
	switch (next) {
	case JOB_COMPLETE:
		rec_add_str(&body, "next", "complete");
		break;
	case JOB_FAILED:
		rec_add_str(&body, "next", "failed");
		break;
	case JOB_PENDING:
		rec_add_str(&body, "next", "pending");
		rec_add_i64(&body, "retry_at", retry_at);
		break;
	}
	e = xmalloc(sizeof *e);
	e->job = job;
	e->a = *a;
	e->next = next;
	e->retry_at = retry_at;
	queue_live(job)->pinned++;
	commit(job, &body, NULL, ended_done, e);
}

/* A waiting job's retry time has come: back onto the run queue's tail. */
void
queue_retry_due(struct job *job)
{
	if (job->gone || job->state != JOB_PENDING)
		return;
	job->live->retry_at = 0;
	job_enqueue(job);
}
