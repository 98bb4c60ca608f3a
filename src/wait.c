/*
 * wait.c: wait/NAME, a read that blocks until job NAME is final.
 *
 * An open file of wait/NAME (struct wait) follows one job, by id, so a
 * rename does not lose it. Its answer is one line, "complete", "failed"
 * or "removed", and it is fixed once known: at the open for a job already
 * in complete/ or failed/, otherwise at the first change that makes the
 * job final after the open (watch.c calls wait_change once the record of
 * that change is committed and applied, so the answer always agrees with
 * the journal and with what ls shows). From then on the file reads like
 * a file holding that line: a read at an offset gets what is there, the
 * end gets 0 bytes, and a rerun of the job changes nothing for it.
 *
 * A read before the answer is known is parked: its fuse_req is kept and
 * answered from wait_change; no thread sleeps. Parked reads hang off
 * their open file, and open files not yet answered hang off one entry per
 * job (struct waited) in a hash by job id, so a change costs a hash
 * lookup, and the work of answering only its own job's readers; a change
 * of a job nobody waits for allocates nothing. Objects come from pools:
 * ten thousand waiters cost little more than their own bytes.
 *
 * Every parked read is answered exactly once: by the change (the line),
 * by an interrupt (EINTR, when the reader got a signal), by the stop
 * (ECONNABORTED) or, which the kernel never lets happen, by the release
 * of its file (EBADF). wait_parked counts them for the shutdown, which
 * waits for none to be left.
 *
 * This is FUSE glue for its file, so it includes fuse_lowlevel.h; it
 * changes nothing in the queue.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "filed.h"

#define WAIT_BUCKETS	64	/* the table's size when it is made */

struct waited;

/* A read of wait/NAME waiting for its answer. */
struct wait_read {
	fuse_req_t		 req;
	struct wait		*w;
	size_t			 size;
	uint64_t		 off;
	TAILQ_ENTRY(wait_read)	 entry;
};

/* An open file of wait/NAME. */
struct wait {
	uint64_t		 id;		/* the job */
	const char		*line;		/* the answer, or NULL */
	struct waited		*waited;	/* while line is NULL */
	LIST_ENTRY(wait)	 entry;		/* in waited's list */
	TAILQ_HEAD(, wait_read)	 reads;		/* parked */
};

/* A job with open files of wait/NAME that have no answer yet. */
struct waited {
	uint64_t		 id;
	struct waited		*next;		/* in its bucket */
	LIST_HEAD(, wait)	 waits;
};

static struct {
	struct waited	**table;	/* NULL while nobody waits */
	size_t		  nbuckets;
	size_t		  nwaited;
	unsigned	  nparked;
	int		  stopping;
	int		  pools;
	struct pool	  pwait;
	struct pool	  pread;
	struct pool	  pwaited;
} wt;

static size_t	 wait_hash(uint64_t);
static void	 wait_grow(void);
static struct waited *wait_find(uint64_t);
static void	 wait_attach(struct wait *);
static void	 wait_detach(struct wait *);
static void	 wait_reply(fuse_req_t, const char *, size_t, uint64_t);
static void	 wait_fail(struct wait_read *, int);
static void	 wait_interrupted(fuse_req_t, void *);

/* The bucket of job id. */
static size_t
wait_hash(uint64_t id)
{
	uint64_t	h = id * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 29)) & (wt.nbuckets - 1);
}

/* Double the table: one job a bucket on average, at most. */
static void
wait_grow(void)
{
	struct waited	**old = wt.table, *wd, *next;
	size_t		  i, n = wt.nbuckets;

	wt.nbuckets = n * 2;
	wt.table = xcalloc(wt.nbuckets, sizeof *wt.table);
	for (i = 0; i < n; i++) {
		for (wd = old[i]; wd != NULL; wd = next) {
			next = wd->next;
			wd->next = wt.table[wait_hash(wd->id)];
			wt.table[wait_hash(wd->id)] = wd;
		}
	}
	free(old);
}

/* The entry of job id, or NULL if nobody waits for it. */
static struct waited *
wait_find(uint64_t id)
{
	struct waited	*wd;

	if (wt.table == NULL)
		return NULL;
	for (wd = wt.table[wait_hash(id)]; wd != NULL; wd = wd->next) {
		if (wd->id == id)
			return wd;
	}
	return NULL;
}

/* Put w on its job's list, making the job's entry if it has none. */
static void
wait_attach(struct wait *w)
{
	struct waited	*wd;
	size_t		 b;

	if ((wd = wait_find(w->id)) == NULL) {
		if (wt.table == NULL) {
			wt.nbuckets = WAIT_BUCKETS;
			wt.table = xcalloc(wt.nbuckets, sizeof *wt.table);
		} else if (wt.nwaited >= wt.nbuckets)
			wait_grow();
		wd = pool_get(&wt.pwaited);
		wd->id = w->id;
		LIST_INIT(&wd->waits);
		b = wait_hash(wd->id);
		wd->next = wt.table[b];
		wt.table[b] = wd;
		wt.nwaited++;
	}
	LIST_INSERT_HEAD(&wd->waits, w, entry);
	w->waited = wd;
}

/*
 * Take w off its job's list; the job's entry goes with the last one, and
 * the table with the last entry (so that nothing is left at exit).
 */
static void
wait_detach(struct wait *w)
{
	struct waited	*wd = w->waited, **p;

	if (wd == NULL)
		return;
	LIST_REMOVE(w, entry);
	w->waited = NULL;
	if (!LIST_EMPTY(&wd->waits))
		return;
	for (p = &wt.table[wait_hash(wd->id)]; *p != wd; p = &(*p)->next)
		;
	*p = wd->next;
	pool_put(&wt.pwaited, wd);
	if (--wt.nwaited == 0) {
		free(wt.table);
		wt.table = NULL;
		wt.nbuckets = 0;
	}
}

/*
 * Answer req, a read of size bytes at off of a file holding line, as a
 * file would: with what is there, as much as fits. So a read of any size
 * gets the line in as many reads as it takes, and one at its end 0 bytes.
 */
static void
wait_reply(fuse_req_t req, const char *line, size_t size, uint64_t off)
{
	size_t	len = strlen(line), n = 0;

	if (off < len) {
		n = len - (size_t)off;
		if (n > size)
			n = size;
	}
	fuse_reply_buf(req, n > 0 ? line + off : NULL, n);
}

/* Answer a parked read with error and forget it. */
static void
wait_fail(struct wait_read *r, int error)
{
	TAILQ_REMOVE(&r->w->reads, r, entry);
	wt.nparked--;
	fuse_reply_err(r->req, error);
	pool_put(&wt.pread, r);
}

/*
 * The reader of a parked read got a signal (SIGINT on a blocked cat):
 * answer EINTR at once and forget the read. Without this the kernel,
 * having sent the read, would wait for filed's answer even for SIGKILL.
 * libfuse calls this from the loop thread, inside the processing of the
 * interrupt, and a reply from here is allowed.
 */
static void
wait_interrupted(fuse_req_t req, void *arg)
{
	struct wait_read	*r = arg;
	struct job		*job;

	if ((job = queue_by_id(r->w->id)) != NULL)
		log_debug("job '%s': a read of wait/%s was interrupted",
		    job->name, job->name);
	wait_fail(r, EINTR);
}

/*
 * Open wait/NAME of job. A job whose text was never saved (its creator is
 * writing it, nothing is in the journal yet) is EBUSY, as opening the job
 * itself is: it can still vanish without a record if its creator fails,
 * and then nothing would ever answer.
 */
int
wait_open(struct job *job, struct wait **wp)
{
	struct wait	*w;

	*wp = NULL;
	if (job->state == JOB_NEW)
		return -EBUSY;
	if (!wt.pools) {
		pool_init(&wt.pwait, sizeof (struct wait));
		pool_init(&wt.pread, sizeof (struct wait_read));
		pool_init(&wt.pwaited, sizeof (struct waited));
		wt.pools = 1;
	}
	w = pool_get(&wt.pwait);
	w->id = job->id;
	TAILQ_INIT(&w->reads);
	if (job->state == JOB_COMPLETE)
		w->line = "complete\n";
	else if (job->state == JOB_FAILED)
		w->line = "failed\n";
	else
		wait_attach(w);
	*wp = w;
	return 0;
}

/*
 * A read of wait/NAME: answered at once when the answer is known (or
 * nothing is asked for), parked until it is otherwise. Once filed stops,
 * a read that would park gets ECONNABORTED instead (see wait_stop).
 */
void
wait_read(struct fuse_req *req, struct wait *w, size_t size, uint64_t off)
{
	struct wait_read	*r;

	if (w->line != NULL) {
		wait_reply(req, w->line, size, off);
		return;
	}
	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (wt.stopping) {
		fuse_reply_err(req, ECONNABORTED);
		return;
	}
	/*
	 * An interrupt that came first would make libfuse call
	 * wait_interrupted from inside fuse_req_interrupt_func, which then
	 * touches the request after the reply freed it: answer it here
	 * instead. (With one thread it cannot happen: the kernel sends the
	 * interrupt after the read, and filed handles the read first.)
	 */
	if (fuse_req_interrupted(req)) {
		fuse_reply_err(req, EINTR);
		return;
	}
	r = pool_get(&wt.pread);
	r->req = req;
	r->w = w;
	r->size = size;
	r->off = off;
	TAILQ_INSERT_TAIL(&w->reads, r, entry);
	wt.nparked++;
	fuse_req_interrupt_func(req, wait_interrupted, r);
}

/*
 * wait/NAME is closed. The kernel sends no release while a read of the
 * file is under way, so no read is parked; one would get EBADF.
 */
void
wait_release(struct wait *w)
{
	struct wait_read	*r;

	if (w == NULL)
		return;
	while ((r = TAILQ_FIRST(&w->reads)) != NULL)
		wait_fail(r, EBADF);
	wait_detach(w);
	pool_put(&wt.pwait, w);
}

/*
 * A job changed (watch.c): if it is now final, every open file waiting
 * for it gets its answer, and so does every read parked on them. Complete
 * is "complete"; failed after its last retry, or cancelled with mv
 * active/NAME failed/, is "failed"; rm (or a draft replaced by a rename)
 * is "removed". A retry or an interrupted attempt is not final.
 */
void
wait_change(const struct change *c)
{
	struct waited		*wd;
	struct wait		*w;
	struct wait_read	*r;
	const char		*line;
	int			 last;

	if ((wd = wait_find(c->job->id)) == NULL)
		return;
	switch (c->kind) {
	case CH_COMPLETE:
		line = "complete\n";
		break;
	case CH_FAILED:
	case CH_CANCELLED:
		line = "failed\n";
		break;
	case CH_REMOVED:
		line = "removed\n";
		break;
	default:
		return;
	}
	log_debug("job '%s': answering its waiters: %.*s", c->job->name,
	    (int)strlen(line) - 1, line);
	/* The last wait_detach frees wd: look at the list before it. */
	do {
		w = LIST_FIRST(&wd->waits);
		last = LIST_NEXT(w, entry) == NULL;
		w->line = line;
		while ((r = TAILQ_FIRST(&w->reads)) != NULL) {
			TAILQ_REMOVE(&w->reads, r, entry);
			wt.nparked--;
			wait_reply(r->req, line, r->size, r->off);
			pool_put(&wt.pread, r);
		}
		wait_detach(w);
	} while (!last);
}

/*
 * filed stops: every parked read gets ECONNABORTED, and so does every
 * later read that would park. That is what a reader gets from a filed
 * that dies, so a caller has one case to handle, "filed went away, wait
 * again once it is back"; EINTR would say a signal of the caller's came,
 * which is untrue, and many callers retry EINTR at once.
 */
void
wait_stop(void)
{
	struct waited	*wd;
	struct wait	*w;
	size_t		 i;
	unsigned	 n = wt.nparked;

	wt.stopping = 1;
	if (n == 0)
		return;
	for (i = 0; i < wt.nbuckets; i++) {
		for (wd = wt.table[i]; wd != NULL; wd = wd->next) {
			LIST_FOREACH(w, &wd->waits, entry) {
				while (!TAILQ_EMPTY(&w->reads))
					wait_fail(TAILQ_FIRST(&w->reads),
					    ECONNABORTED);
			}
		}
	}
	log_info("stopping: %u read%s of wait/ answered ECONNABORTED", n,
	    n == 1 ? "" : "s");
}

/* The reads parked now. */
unsigned
wait_parked(void)
{
	return wt.nparked;
}
