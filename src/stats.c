/*
 * stats.c: the stats file, in the Prometheus text exposition format
 * (version 0.0.4), and the counters and histograms behind it.
 *
 * - Counters count the changes watch.c announces (stats_change): jobs
 *   submitted, attempts started and how they ended, retries, cancels,
 *   removals. Each is an increment, and an ended attempt one histogram
 *   bucket more: with nobody reading stats, that is all filed does for
 *   it per job.
 * - Everything else is read when stats is opened (stats_render): the jobs
 *   in each state from counts the state machine keeps (queue_count_state,
 *   never a walk of the jobs), the journal's counters (journal_counters),
 *   the settings in force (read through the pointer each time, as SIGHUP
 *   and config.json replace them).
 * - The FUSE requests are counted by opcode where fuse_uv.c reads them,
 *   one increment each, into stats_fuse_requests.
 * - The whole text is rendered at open into the handle, on the loop
 *   thread, so one open reads one consistent snapshot however long the
 *   reader takes, and every read of it sees the same numbers.
 * - Counters start at zero when filed starts, as Prometheus expects of a
 *   process that says when it started (filed_start_time_seconds): the
 *   journal holds the jobs, not their history, and replay announces
 *   nothing. The gauges of jobs hold across a restart.
 *
 * Histograms keep a count per bucket and an exact sum (whole seconds and
 * ns, so no sum loses precision or wraps in any lifetime) and are made
 * cumulative only when rendered.
 */

#include <stdio.h>
#include <string.h>

#include "filed.h"
#include "fuseops.h"

#define NS	1000000000ULL

/* The Makefile gives the version; t/fuzz.sh builds the sources without. */
#ifndef FILED_VERSION
#define FILED_VERSION	"unknown"
#endif

/* fdatasync: 100 us to 1 s; a disk slower than that is failing. */
static const uint64_t le_sync[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, NS
};

/* Attempts and waits: 1 ms (a job that does nothing) to an hour. */
static const uint64_t le_run[] = {
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
	250000000, 500000000, NS, 2500 * 1000000ULL, 5 * NS, 10 * NS, 30 * NS,
	60 * NS, 300 * NS, 900 * NS, 1800 * NS, 3600 * NS
};

/* The words of the states, as the label state= shows them. */
static const char *const state_words[] = {
	"new", "draft", "pending", "active", "failed", "complete"
};

/* Outside st, so that fuse_uv.c's count of a request is one increment. */
uint64_t	stats_fuse_requests[FUSEOPS_N];

static struct {
	const struct conf	*conf;
	struct journal		*journal;
	int64_t			 start;		/* ns since the epoch */

	uint64_t		 submitted;
	uint64_t		 reruns;
	uint64_t		 started;
	uint64_t		 completed;
	uint64_t		 failed;
	uint64_t		 att_failed;
	uint64_t		 retries;
	uint64_t		 timeouts;
	uint64_t		 cancelled;
	uint64_t		 interrupted;
	uint64_t		 removed[JOB_COMPLETE + 1];	/* by prev state */

	struct stats_hist	 run;		/* attempts, start to end */
	struct stats_hist	 wait;		/* created to first start */
} st;

static void	 stats_seconds(struct buf *, uint64_t, uint64_t);
static void	 stats_family(struct buf *, const char *, const char *,
		    const char *);
static void	 stats_one(struct buf *, const char *, const char *,
		    const char *, uint64_t);
static void	 stats_double(struct buf *, const char *, const char *,
		    double);
static void	 stats_label(struct buf *, const char *);
static void	 stats_hist(struct buf *, const char *, const char *,
		    const struct stats_hist *);
static void	 stats_ended(const struct change *);

/* Set up a histogram of kind, empty. */
void
stats_hist_init(struct stats_hist *h, enum stats_hist_kind kind)
{
	memset(h, 0, sizeof *h);
	if (kind == STATS_HIST_SYNC) {
		h->le = le_sync;
		h->nle = sizeof le_sync / sizeof le_sync[0];
	} else {
		h->le = le_run;
		h->nle = sizeof le_run / sizeof le_run[0];
	}
	if (h->nle > STATS_HIST_MAX)
		fatalx("stats: %u buckets", h->nle);
}

/* Count a duration of ns (a negative one, from a clock set back, as 0). */
void
stats_hist_add(struct stats_hist *h, int64_t ns)
{
	uint64_t	v = ns > 0 ? (uint64_t)ns : 0;
	unsigned	i;

	for (i = 0; i < h->nle && v > h->le[i]; i++)
		continue;
	h->bucket[i]++;
	h->count++;
	h->sum_s += v / NS;
	h->sum_ns += v % NS;
	if (h->sum_ns >= NS) {
		h->sum_s++;
		h->sum_ns -= NS;
	}
}

/* Start counting: from zero, now. conf is read at each render. */
void
stats_init(const struct conf *conf, struct journal *j)
{
	memset(&st, 0, sizeof st);
	st.conf = conf;
	st.journal = j;
	st.start = util_now();
	stats_hist_init(&st.run, STATS_HIST_RUN);
	stats_hist_init(&st.wait, STATS_HIST_RUN);
}

/* An attempt ended (completed, failed, retried, interrupted, cancelled). */
static void
stats_ended(const struct change *c)
{
	if (c->a == NULL)
		return;
	stats_hist_add(&st.run, c->a->ended - c->a->started);
	if (c->a->how == HOW_TIMEOUT)
		st.timeouts++;
}

/*
 * A job changed (watch.c). Only increments: this runs for every change of
 * every job, read or not.
 */
void
stats_change(const struct change *c)
{
	switch (c->kind) {
	case CH_PENDING:
		if (c->submitted)
			st.submitted++;
		else
			st.reruns++;
		break;
	case CH_ACTIVE:
		/* A job started the moment its creator let go is queued too. */
		if (c->submitted)
			st.submitted++;
		st.started++;
		/*
		 * The wait is counted from the job's creation: a job keeps
		 * no time of its queueing, and keeping one would cost every
		 * live job memory for this alone. For a new job the two are
		 * a moment apart; for a draft queued later, or a job run
		 * again with mv, the wait includes the time before (the man
		 * page says so).
		 */
		if (c->attempt == 1)
			stats_hist_add(&st.wait, c->time - c->job->ctime);
		break;
	case CH_RETRY:
		st.att_failed++;
		st.retries++;
		stats_ended(c);
		break;
	case CH_FAILED:
		if (c->a != NULL)	/* none for a job that never ran */
			st.att_failed++;
		st.failed++;
		stats_ended(c);
		break;
	case CH_COMPLETE:
		st.completed++;
		stats_ended(c);
		break;
	case CH_INTERRUPTED:
		st.interrupted++;
		stats_ended(c);
		break;
	case CH_CANCELLED:
		st.cancelled++;
		stats_ended(c);
		break;
	case CH_REMOVED:
		if ((unsigned)c->prev <= JOB_COMPLETE)
			st.removed[c->prev]++;
		break;
	}
}

/*
 * Append a duration of s seconds and ns nanoseconds as a decimal number of
 * seconds, exact, without trailing zeros: 0.0025, 1, 3600.5.
 */
static void
stats_seconds(struct buf *b, uint64_t s, uint64_t ns)
{
	char	frac[16];
	int	n;

	s += ns / NS;
	ns %= NS;
	if (ns == 0) {
		buf_printf(b, "%llu", (unsigned long long)s);
		return;
	}
	n = snprintf(frac, sizeof frac, "%09llu", (unsigned long long)ns);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	buf_printf(b, "%llu.%s", (unsigned long long)s, frac);
}

/* Append the HELP and TYPE lines of a metric family. */
static void
stats_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Append a label value, escaped as the format wants: \\, \" and \n. */
static void
stats_label(struct buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			buf_adds(b, "\\\\");
		else if (*v == '"')
			buf_adds(b, "\\\"");
		else if (*v == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *v);
	}
}

/* Append a family of one sample, without labels, of an integer value. */
static void
stats_one(struct buf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	stats_family(b, name, type, help);
	buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Append a gauge family of one sample that is a setting (a number). */
static void
stats_double(struct buf *b, const char *name, const char *help, double v)
{
	stats_family(b, name, "gauge", help);
	buf_printf(b, "%s %.15g\n", name, v);
}

/* Append a histogram family: cumulative buckets, +Inf, sum and count. */
static void
stats_hist(struct buf *b, const char *name, const char *help,
    const struct stats_hist *h)
{
	uint64_t	cum = 0;
	unsigned	i;

	stats_family(b, name, "histogram", help);
	for (i = 0; i < h->nle; i++) {
		cum += h->bucket[i];
		buf_printf(b, "%s_bucket{le=\"", name);
		stats_seconds(b, 0, h->le[i]);
		buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	cum += h->bucket[h->nle];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	buf_printf(b, "%s_sum ", name);
	stats_seconds(b, h->sum_s, h->sum_ns);
	buf_printf(b, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

/*
 * Render the file as it is now into b: gauges first (what filed is, what
 * it holds), then the counters of jobs and attempts, the histograms, the
 * journal's, and the FUSE requests. The names, types and help texts are
 * the man page's list.
 */
void
stats_render(struct buf *b)
{
	struct journal_counters	 jc;
	const struct conf	*cf = st.conf;
	enum job_state		 s;
	unsigned		 i;

	stats_family(b, "filed_build_info", "gauge",
	    "The version of filed that is running, as filed --version says.");
	buf_adds(b, "filed_build_info{version=\"");
	stats_label(b, FILED_VERSION);
	buf_adds(b, "\"} 1\n");
	stats_family(b, "filed_start_time_seconds", "gauge",
	    "When filed started, in seconds since the epoch: every counter "
	    "counts from then.");
	buf_adds(b, "filed_start_time_seconds ");
	stats_seconds(b, 0, st.start > 0 ? (uint64_t)st.start : 0);
	buf_addc(b, '\n');

	stats_one(b, "filed_max_jobs", "gauge",
	    "Attempts that may run at once (setting max_jobs).",
	    (uint64_t)cf->max_jobs);
	stats_one(b, "filed_paused", "gauge",
	    "1 while max_jobs is 0: no attempt starts; else 0.",
	    cf->max_jobs == 0 ? 1 : 0);
	/* Not filed_max_jobs_total: only a counter's name ends in _total. */
	stats_one(b, "filed_max_existing_jobs", "gauge",
	    "Jobs that may exist at once, drafts included (setting "
	    "max_jobs_total).", (uint64_t)cf->max_jobs_total);
	stats_one(b, "filed_max_retries", "gauge",
	    "Retries after a job's first attempt (setting max_retries).",
	    (uint64_t)cf->max_retries);
	stats_double(b, "filed_timeout_seconds",
	    "Seconds an attempt may run, 0 for no limit (setting timeout).",
	    cf->timeout);
	stats_double(b, "filed_kill_grace_seconds",
	    "Seconds between SIGTERM and SIGKILL (setting kill_grace).",
	    cf->kill_grace);
	stats_double(b, "filed_backoff_base_seconds",
	    "First factor of the retry delay (setting backoff_base).",
	    cf->backoff_base);
	stats_double(b, "filed_backoff_mult",
	    "Factor by which each retry delay grows (setting backoff_mult).",
	    cf->backoff_mult);
	stats_one(b, "filed_max_job_size_bytes", "gauge",
	    "Bytes of job text a job may have (setting max_job_size).",
	    (uint64_t)cf->max_job_size);
	stats_one(b, "filed_max_log_size_bytes", "gauge",
	    "Bytes of output an attempt keeps, 0 for no limit (setting "
	    "max_log_size).", (uint64_t)cf->max_log_size);
	stats_double(b, "filed_keep_complete_seconds",
	    "Seconds a job stays in complete/, 0 for good (setting "
	    "keep_complete).", cf->keep_complete);
	stats_double(b, "filed_keep_failed_seconds",
	    "Seconds a job stays in failed/, 0 for good (setting "
	    "keep_failed).", cf->keep_failed);
	/* Not filed_max_logs_total: only a counter's name ends in _total. */
	stats_one(b, "filed_max_logs_bytes", "gauge",
	    "Bytes the output files of finished jobs may take, 0 for no "
	    "limit (setting max_logs_total).", (uint64_t)cf->max_logs_total);
	stats_one(b, "filed_finished_output_bytes", "gauge",
	    "Bytes of the output files of the jobs in complete/ and failed/, "
	    "as max_logs_total counts them.", queue_logs_total());

	stats_family(b, "filed_jobs", "gauge",
	    "Jobs by state: new (being written), draft, pending (queued or "
	    "waiting for a retry), active, failed, complete.");
	for (s = JOB_NEW; s <= JOB_COMPLETE; s++) {
		buf_printf(b, "filed_jobs{state=\"%s\"} %llu\n",
		    state_words[s], (unsigned long long)queue_count_state(s));
	}

	stats_one(b, "filed_jobs_submitted_total", "counter",
	    "Jobs queued for the first time: released by their creator, or "
	    "drafts renamed.", st.submitted);
	stats_one(b, "filed_jobs_rerun_total", "counter",
	    "Jobs moved back to pending/ from failed/ or complete/.",
	    st.reruns);
	stats_one(b, "filed_attempts_started_total", "counter",
	    "Attempts started.", st.started);
	stats_one(b, "filed_jobs_completed_total", "counter",
	    "Jobs whose attempt exited 0, moved to complete/.", st.completed);
	stats_one(b, "filed_jobs_failed_total", "counter",
	    "Jobs whose last allowed attempt failed, moved to failed/.",
	    st.failed);
	stats_one(b, "filed_attempts_failed_total", "counter",
	    "Attempts that failed (exit status not 0, a signal, a timeout), "
	    "retried or final.", st.att_failed);
	stats_one(b, "filed_retries_total", "counter",
	    "Failed attempts after which the job waits for a retry.",
	    st.retries);
	stats_one(b, "filed_attempts_timed_out_total", "counter",
	    "Attempts killed for running longer than timeout.", st.timeouts);
	stats_one(b, "filed_jobs_cancelled_total", "counter",
	    "Running jobs cancelled into failed/ (mv active/NAME failed/).",
	    st.cancelled);
	stats_one(b, "filed_attempts_interrupted_total", "counter",
	    "Attempts recorded as interrupted: by a stop, or found running "
	    "at a start after filed died.", st.interrupted);
	stats_family(b, "filed_jobs_removed_total", "counter",
	    "Jobs removed (rm; by filed for keep_complete, keep_failed or "
	    "max_logs_total; or a draft replaced by a rename), by the "
	    "state they were in.");
	for (s = JOB_DRAFT; s <= JOB_COMPLETE; s++) {
		buf_printf(b, "filed_jobs_removed_total{state=\"%s\"} %llu\n",
		    state_words[s], (unsigned long long)st.removed[s]);
	}

	stats_hist(b, "filed_attempt_duration_seconds",
	    "How long attempts ran, start to end, by the attempts that "
	    "ended: completed, failed, retried, interrupted, cancelled.",
	    &st.run);
	stats_hist(b, "filed_queue_wait_seconds",
	    "From a job's creation to the start of the first attempt of its "
	    "run.", &st.wait);

	journal_counters(st.journal, &jc);
	stats_one(b, "filed_journal_size_bytes", "gauge",
	    "Bytes of the journal, up to its last committed record.", jc.size);
	stats_one(b, "filed_journal_records_total", "counter",
	    "Records committed to the journal.", jc.records);
	stats_one(b, "filed_journal_commits_total", "counter",
	    "Batches committed: one write and one fdatasync each (group "
	    "commit).", jc.commits);
	stats_one(b, "filed_journal_written_bytes_total", "counter",
	    "Bytes the committed batches appended to the journal.", jc.bytes);
	stats_one(b, "filed_journal_failed_commits_total", "counter",
	    "Batches refused with an error (ENOSPC, EIO): their changes were "
	    "not made.", jc.failed);
	stats_one(b, "filed_journal_broken", "gauge",
	    "1 while filed refuses changes after a failed fdatasync, until "
	    "it has rewritten the journal.", jc.broken ? 1 : 0);
	stats_one(b, "filed_journal_compactions_total", "counter",
	    "Compactions done: the journal replaced by the live state.",
	    jc.compactions);
	stats_one(b, "filed_journal_compaction_failures_total", "counter",
	    "Compactions given up (the old journal kept).", jc.compact_failed);
	stats_one(b, "filed_journal_compaction_written_bytes_total", "counter",
	    "Bytes compactions wrote to journal.new.", jc.compact_bytes);
	stats_hist(b, "filed_journal_fdatasync_seconds",
	    "How long each fdatasync of the journal took, a commit's or a "
	    "compaction's (a commit's with its write), from its submission "
	    "to the thread pool to its completion.", jc.sync);

	stats_family(b, "filed_fuse_requests_total", "counter",
	    "FUSE requests read from the kernel, by opcode (op=\"other\": "
	    "an opcode filed does not know).");
	for (i = 0; i < FUSEOPS_N; i++) {
		if (fuseops_name[i] == NULL)
			continue;
		buf_printf(b, "filed_fuse_requests_total{op=\"%s\"} %llu\n",
		    fuseops_name[i],
		    (unsigned long long)stats_fuse_requests[i]);
	}
}
