/*
 * retain.c: the finished jobs that filed removes by itself.
 *
 * - keep_complete, keep_failed: a job that has been in complete/ (failed/)
 *   for longer than that many seconds, counted from its last state change
 *   (its mtime: when it finished), is removed. max_logs_total: while the
 *   output files of the finished jobs take more bytes than that (as
 *   queue_logs counts them), the oldest finished jobs with any output are
 *   removed, those of complete/ before those of failed/.
 * - A removal is a user's rm: the same "rm" record (queue_remove_why, with
 *   why=expired or why=max_logs_total), committed, applied and announced
 *   (watch.c) the same way, output file and all. A job with a record in
 *   flight (a user's rm or mv of it) is left alone until that record is
 *   done; so of a user's rm and filed's, one is written and the other finds
 *   no job.
 * - complete/ and failed/ list their jobs in the order they finished, and
 *   a finished job's mtime is the time it finished: the head of each list
 *   is its oldest job. So the next expiry is a head's mtime plus its keep,
 *   and one timer, armed for the earlier of the two, is all it takes. With
 *   nothing that can expire (keep 0, or no finished job) no timer runs, and
 *   an idle filed makes no system call.
 * - A backlog (a keep lowered over 100,000 finished jobs) goes in slices:
 *   at most RETAIN_SLICE removals in one turn of the loop (an idle handle
 *   brings the next turn's), corked into one journal batch, and at most
 *   RETAIN_INFLIGHT not yet committed. So requests are served between
 *   slices, and no commit callback applies more than that many removals
 *   at once (each one unlinks an output file).
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "filed.h"

#define RETAIN_SLICE	256	/* removals made in one turn of the loop */
#define RETAIN_INFLIGHT	512	/* removals not yet committed, at most */
#define RETAIN_RETRY_NS	(1000 * (int64_t)1000000) /* after a refusal */
#define RETAIN_BUSY_NS	(50 * (int64_t)1000000)	/* a job with a record
						   in flight: look again */

enum retain_why {
	WHY_EXPIRED,			/* older than keep_complete/failed */
	WHY_LOGS			/* over max_logs_total */
};

/* A removal on its way to the journal. */
struct retain_rm {
	struct job	*job;
	uint64_t	 bytes;		/* what queue_logs counted of it */
	enum retain_why	 why;
};

static struct {
	uv_loop_t	*loop;
	const struct conf *conf;
	uv_timer_t	 timer;		/* the earliest expiry, or a retry */
	uv_idle_t	 idle;		/* the next slice, at the next turn */
	unsigned	 inflight;	/* removals not yet committed */
	uint64_t	 inflight_bytes; /* their queue_logs */
	int		 full;		/* a slice stopped at RETAIN_INFLIGHT */
	int		 held;		/* this slice may remove nothing */
	int		 stopping;
	int64_t		 refused;	/* when the journal last refused one */
	int		 capping;	/* over max_logs_total, and said so */
	uint64_t	 nexpired;	/* removed since the last summary */
	uint64_t	 ncapped;
} rt;

static void	 retain_fired(uv_timer_t *);
static void	 retain_idle(uv_idle_t *);
static void	 retain_arm(int64_t, int64_t);
static void	 retain_sweep(void);
static int	 retain_expire(int, double, int64_t, unsigned *, int64_t *);
static int	 retain_cap(int64_t, unsigned *, int64_t *);
static int	 retain_room(unsigned);
static void	 retain_remove(struct job *, enum retain_why);
static void	 retain_done(void *, int);
static void	 retain_summary(void);

/* Start watching the finished jobs, with the settings in force in conf. */
void
retain_init(uv_loop_t *loop, const struct conf *conf)
{
	memset(&rt, 0, sizeof rt);
	rt.loop = loop;
	rt.conf = conf;
	uv_timer_init(loop, &rt.timer);
	uv_idle_init(loop, &rt.idle);
	retain_kick();
}

/*
 * Look at the finished jobs again at the next turn of the loop: the
 * settings changed, or filed just started (jobs may have expired while it
 * was stopped).
 */
void
retain_kick(void)
{
	if (rt.loop == NULL || rt.stopping)
		return;
	uv_idle_start(&rt.idle, retain_idle);
}

/* filed stops: remove nothing more (what is in flight is committed). */
void
retain_stop(void)
{
	if (rt.loop == NULL)
		return;
	rt.stopping = 1;
	uv_timer_stop(&rt.timer);
	uv_idle_stop(&rt.idle);
}

/*
 * A change of a job (watch.c): a job that finished may expire before
 * the jobs the timer is armed for (if there were any), and its output may
 * take the logs over max_logs_total.
 */
void
retain_change(const struct change *c)
{
	double	keep;
	int64_t	now;

	if (rt.loop == NULL || rt.stopping)
		return;
	switch (c->kind) {
	case CH_COMPLETE:
		keep = rt.conf->keep_complete;
		break;
	case CH_FAILED:
	case CH_CANCELLED:
		keep = rt.conf->keep_failed;
		break;
	default:
		return;
	}
	now = util_now();
	if (keep > 0)
		retain_arm(c->time + (int64_t)(keep * 1e9), now);
	/* The count takes the job in once its record is applied: look then. */
	if (rt.conf->max_logs_total > 0)
		retain_kick();
}

/* The timer fired: the earliest expiry has come, or a retry. */
static void
retain_fired(uv_timer_t *t)
{
	retain_sweep();
}

/* The next turn of the loop: the next slice. */
static void
retain_idle(uv_idle_t *h)
{
	retain_sweep();
}

/*
 * Arm the timer for due (ns, wall clock) unless it, or the next slice,
 * comes earlier. Rounded up to the millisecond, so that it never fires
 * before anything is due.
 */
static void
retain_arm(int64_t due, int64_t now)
{
	uint64_t	ms = 0;

	if (due > now)
		ms = (uint64_t)((due - now + 999999) / 1000000);
	if (uv_is_active((uv_handle_t *)&rt.idle))
		return;
	if (uv_is_active((uv_handle_t *)&rt.timer) &&
	    uv_timer_get_due_in(&rt.timer) <= ms)
		return;
	uv_timer_start(&rt.timer, retain_fired, ms, 0);
}

/*
 * Make one slice of removals: the expired jobs of complete/ and failed/,
 * then the oldest while the logs are over max_logs_total. Then bring the
 * next slice at the next turn, or arm the timer for the next expiry, or
 * wait for the removals in flight, or nothing.
 */
static void
retain_sweep(void)
{
	int64_t		 now = util_now(), next = INT64_MAX;
	unsigned	 n = 0;
	int		 more;

	uv_idle_stop(&rt.idle);
	uv_timer_stop(&rt.timer);
	if (rt.stopping)
		return;
	/*
	 * While the journal refuses changes, or refused one of these a
	 * moment ago, only find out whether a removal is due: then look
	 * again in a second.
	 */
	rt.held = !queue_writable() ||
	    (rt.refused != 0 && now - rt.refused < RETAIN_RETRY_NS);
	queue_cork(1);
	more = retain_expire(INO_COMPLETE, rt.conf->keep_complete, now, &n,
	    &next);
	if (!more)
		more = retain_expire(INO_FAILED, rt.conf->keep_failed, now,
		    &n, &next);
	if (!more)
		more = retain_cap(now, &n, &next);
	queue_cork(0);
	if (more && rt.held)
		retain_arm(now + RETAIN_RETRY_NS, now);
	else if (more && rt.inflight >= RETAIN_INFLIGHT)
		rt.full = 1;	/* retain_done brings the next slice */
	else if (more)
		uv_idle_start(&rt.idle, retain_idle);
	else if (next != INT64_MAX)
		retain_arm(next, now);
	if (!more && n == 0 && rt.inflight == 0)
		retain_summary();
}

/*
 * Remove the jobs of dir (complete/ or failed/) that finished more than
 * keep seconds ago, oldest first, as far as this slice has room. Returns
 * 1 if it had not, else 0 with *next lowered to the next expiry.
 */
static int
retain_expire(int dir, double keep, int64_t now, unsigned *n,
    int64_t *next)
{
	struct job	*job;
	int64_t		 ttl, due;

	if (keep <= 0)
		return 0;
	ttl = (int64_t)(keep * 1e9);
	TAILQ_FOREACH(job, queue_dir_jobs(dir), all) {
		due = job->mtime + ttl;
		if (due > now) {
			if (due < *next)
				*next = due;
			return 0;
		}
		if (queue_inflight(job) != 0) {
			/* Removed already, or changed: see once it is done. */
			if (now + RETAIN_BUSY_NS < *next)
				*next = now + RETAIN_BUSY_NS;
			continue;
		}
		if (!retain_room(*n))
			return 1;
		retain_remove(job, WHY_EXPIRED);
		(*n)++;
	}
	return 0;
}

/*
 * While the logs of the finished jobs, less those being removed, take
 * more than max_logs_total, remove the oldest finished jobs that have
 * output: complete/ first, then failed/. Returns 1 if this slice had no
 * room for all of them, else 0.
 */
static int
retain_cap(int64_t now, unsigned *n, int64_t *next)
{
	static const int dirs[] = { INO_COMPLETE, INO_FAILED };
	struct job	*job;
	uint64_t	 cap, have, bytes;
	size_t		 i;

	cap = rt.conf->max_logs_total > 0 ?
	    (uint64_t)rt.conf->max_logs_total : UINT64_MAX;
	have = queue_logs_total();
	have = have > rt.inflight_bytes ? have - rt.inflight_bytes : 0;
	if (have <= cap) {
		rt.capping = 0;
		return 0;
	}
	if (!rt.capping) {
		log_info("the output files of finished jobs take %llu bytes, "
		    "more than max_logs_total (%llu): removing the oldest "
		    "finished jobs", (unsigned long long)have,
		    (unsigned long long)cap);
		rt.capping = 1;
	}
	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		TAILQ_FOREACH(job, queue_dir_jobs(dirs[i]), all) {
			if (have <= cap)
				return 0;
			if ((bytes = queue_logs(job)) == 0)
				continue;
			if (queue_inflight(job) != 0) {
				if (now + RETAIN_BUSY_NS < *next)
					*next = now + RETAIN_BUSY_NS;
				continue;
			}
			if (!retain_room(*n))
				return 1;
			retain_remove(job, WHY_LOGS);
			(*n)++;
			have -= bytes < have ? bytes : have;
		}
	}
	return 0;
}

/* May this slice, with n removals made, make another? */
static int
retain_room(unsigned n)
{
	return !rt.held && n < RETAIN_SLICE && rt.inflight < RETAIN_INFLIGHT;
}

/* Journal the removal of job, as a user's rm with why. */
static void
retain_remove(struct job *job, enum retain_why why)
{
	struct retain_rm	*rm;

	rm = xmalloc(sizeof *rm);
	rm->job = job;
	rm->bytes = queue_logs(job);
	rm->why = why;
	rt.inflight++;
	rt.inflight_bytes += rm->bytes;
	if (why == WHY_EXPIRED)
		log_debug("job '%s': removed: in %s/ longer than %s", job->name,
		    queue_state_name(job->state), job->state == JOB_COMPLETE ?
		    "keep_complete" : "keep_failed");
	else
		log_debug("job '%s': removed: its output (%llu bytes) is "
		    "among the oldest over max_logs_total", job->name,
		    (unsigned long long)rm->bytes);
	queue_remove_why(job, why == WHY_EXPIRED ? "expired" :
	    "max_logs_total", retain_done, rm);
}

/*
 * A removal is committed, or the journal refused it (the job stays; it is
 * tried again a second later). Once the removals in flight are few enough,
 * or none, look again.
 */
static void
retain_done(void *arg, int error)
{
	struct retain_rm	*rm = arg;

	rt.inflight--;
	rt.inflight_bytes -= rm->bytes;
	if (error == 0) {
		if (rm->why == WHY_EXPIRED)
			rt.nexpired++;
		else
			rt.ncapped++;
		rt.refused = 0;
	} else {
		if (rt.refused == 0)
			log_warnx("job '%s': cannot remove it: %s; trying "
			    "again in 1 s", rm->job->name, strerror(-error));
		rt.refused = util_now();
	}
	free(rm);
	if (rt.inflight == 0 || (rt.full &&
	    rt.inflight <= RETAIN_INFLIGHT / 2)) {
		rt.full = 0;
		retain_kick();
	}
}

/* Nothing more to remove for now: log what was, once. */
static void
retain_summary(void)
{
	if (rt.nexpired > 0)
		log_info("removed %llu finished job%s older than keep_complete "
		    "or keep_failed", (unsigned long long)rt.nexpired,
		    rt.nexpired == 1 ? "" : "s");
	if (rt.ncapped > 0)
		log_info("removed %llu finished job%s for max_logs_total: the "
		    "output files of finished jobs take %llu bytes now",
		    (unsigned long long)rt.ncapped, rt.ncapped == 1 ? "" : "s",
		    (unsigned long long)queue_logs_total());
	rt.nexpired = rt.ncapped = 0;
}
