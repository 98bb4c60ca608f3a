/*
 * view.c: what a read of a job file returns, as a list of segments of
 * memory and of the job's log.
 *
 * - active/NAME: the running attempt's output so far, from the offset where
 *   the attempt started to the end of the log as it is now.
 * - complete/NAME: the successful (last) attempt's output only.
 * - failed/NAME: every attempt of the current run, each preceded by a line
 *   that filed writes: "=== filed: attempt N: HOW ===", or, for a job that
 *   failed without running, one line that names the job it runs after
 *   that did not complete (user.filed.after). If an attempt's
 *   output does not end with a newline, one is added before the next line
 *   so that the marker always starts a line.
 *
 * The same segments give both read() and the size that stat shows, so the
 * two always agree.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filed.h"

static void	view_add(struct view *, int, uint64_t, uint64_t);

/* Append one segment. */
static void
view_add(struct view *v, int mem, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	v->seg = xreallocarray(v->seg, v->nseg + 1, sizeof *v->seg);
	v->seg[v->nseg].mem = mem;
	v->seg[v->nseg].off = off;
	v->seg[v->nseg].len = len;
	v->nseg++;
	v->size += len;
}

/*
 * How an attempt ended, in one word: exit, signal, timeout, cancelled or
 * interrupted; NULL while it runs. The events stream and user.filed.reason
 * use it.
 */
const char *
view_reason(const struct attempt *a)
{
	switch (a->how) {
	case HOW_EXIT:
		return "exit";
	case HOW_SIGNAL:
		return "signal";
	case HOW_TIMEOUT:
		return "timeout";
	case HOW_CANCELLED:
		return "cancelled";
	case HOW_INTERRUPTED:
		return "interrupted";
	}
	return NULL;
}

/* The name of signal sig, e.g. "SIGKILL", into buf. */
const char *
view_signame(int sig, char *buf, size_t size)
{
	const char	*abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, size, "SIG%s", abbrev);
	else
		snprintf(buf, size, "%d", sig);
	return buf;
}

/* Format the line that precedes attempt n in failed/NAME. */
void
view_marker(struct buf *b, unsigned n, const struct attempt *a)
{
	const char	*sig;

	buf_printf(b, "=== filed: attempt %u: ", n);
	switch (a->how) {
	case HOW_EXIT:
		buf_printf(b, "exited with status %d", a->status);
		break;
	case HOW_SIGNAL:
	case HOW_TIMEOUT:
		if (a->how == HOW_TIMEOUT) {
			buf_adds(b, "timed out (");
			if (a->signal != 0)
				buf_printf(b, "killed by signal %d)",
				    a->signal);
			else
				buf_printf(b, "exited with status %d)",
				    a->status);
			break;
		}
		sig = sigabbrev_np(a->signal);
		buf_printf(b, "killed by signal %d (SIG%s)", a->signal,
		    sig != NULL ? sig : "?");
		break;
	case HOW_INTERRUPTED:
		buf_adds(b, "interrupted (filed stopped)");
		break;
	case HOW_CANCELLED:
		buf_adds(b, "cancelled");
		break;
	default:
		buf_adds(b, "running");
		break;
	}
	buf_adds(b, " ===\n");
}

/*
 * Build the view of job's log: attempt number attempt alone (1-based, 0 for
 * the last one), or with all set every attempt with its marker line. eof
 * is the log's current size.
 */
void
view_build(struct view *v, const struct job *job, unsigned attempt, int all,
    uint64_t eof)
{
	struct attempt		 at, next;
	const struct attempt	*a = &at;
	uint64_t		 start, end;
	size_t			 mark;
	unsigned		 i, first, last;

	memset(v, 0, sizeof *v);
	buf_init(&v->marks);
	if (job->natt == 0 && all && job->state == JOB_FAILED &&
	    job->live != NULL && job->live->depname != NULL) {
		/* Failed without running: which job it ran after did not. */
		buf_printf(&v->marks, "=== filed: not run: job '%s', which it "
		    "runs after, did not complete ===\n", job->live->depname);
		view_add(v, 1, 0, v->marks.len);
	}
	if (job->natt == 0)
		return;
	if (all) {
		first = 0;
		last = (unsigned)job->natt - 1;
	} else {
		first = last = (attempt == 0 || attempt > job->natt) ?
		    (unsigned)job->natt - 1 : attempt - 1;
		/* A job that kept its last attempt only shows that one. */
		if (queue_attempt(job, first + 1, &at) != 0)
			first = last = (unsigned)job->natt - 1;
	}
	for (i = first; i <= last; i++) {
		if (queue_attempt(job, i + 1, &at) != 0)
			continue;
		start = a->off;
		if (a->end != ATTEMPT_OPEN)
			end = a->end;
		else if (i + 1 < job->natt &&
		    queue_attempt(job, i + 2, &next) == 0)
			end = next.off;
		else
			end = eof;
		if (end > eof)
			end = eof;
		if (start > end)
			start = end;
		if (all) {
			mark = v->marks.len;
			view_marker(&v->marks, i + 1, a);
			view_add(v, 1, mark, v->marks.len - mark);
		}
		view_add(v, 0, start, end - start);
		if (all && i < last && end > start && !a->eol) {
			view_add(v, 1, v->marks.len, 1);
			buf_addc(&v->marks, '\n');
		}
	}
}

/* Free a view. */
void
view_free(struct view *v)
{
	free(v->seg);
	buf_free(&v->marks);
	memset(v, 0, sizeof *v);
}
