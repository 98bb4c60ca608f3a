/*
 * xattr.c: the user.filed.* extended attributes of job files, so that
 * `getfattr -d` shows a job's metadata and its policy. The metadata is
 * read-only; the policy (policy.c) is set on drafts and failed jobs
 * (fsops.c). Values are plain text without a trailing newline, times in
 * RFC 3339 UTC.
 *
 * An attribute exists only while it means something: ended, reason,
 * exit and signal once the last attempt has ended, pid while it runs,
 * retry_at while the job waits for a retry (or for its not_before time),
 * each attribute of the policy once it is set (user.filed.after as the
 * names of its jobs now), reason "dependency" for a job that failed
 * without running because of them. fsops.c answers ENODATA for
 * one that does not exist, and applies the size protocol of getxattr(2).
 */

#include <errno.h>
#include <string.h>

#include "filed.h"

#define XATTR_PREFIX	"user.filed."

static void	xattr_duration(const struct attempt *, struct buf *);
static int	xattr_value(const struct job *, const char *, struct buf *);

static const char *xattr_names[] = {
	"id", "state", "attempts", "uid", "created", "changed", "started",
	"ended", "duration", "reason", "exit", "signal", "pid", "retry_at",
	"max_retries", "timeout", "kill_grace", "backoff_base", "backoff_mult",
	"nice", "priority", "not_before", "after"
};

/*
 * The length of attempt a in seconds, to the millisecond: "1.234". One
 * that runs has run for as long as it has so far, so the value grows
 * while the job is in active/ and is final once it ended. A wall clock
 * set back makes no negative length: it reads 0.000.
 */
static void
xattr_duration(const struct attempt *a, struct buf *b)
{
	int64_t	end, ms;

	end = a->how == HOW_RUNNING ? util_now() : a->ended;
	ms = end > a->started ? (end - a->started) / 1000000 : 0;
	buf_printf(b, "%lld.%03d", (long long)(ms / 1000), (int)(ms % 1000));
}

/* Put the value of attribute key (without prefix) into b; -1 if unset. */
static int
xattr_value(const struct job *job, const char *key, struct buf *b)
{
	const struct job_live	*l = job->live;
	const struct attempt	*a = NULL, *done = NULL;
	struct attempt		 last;
	char			 t[64];
	int			 k;

	if ((k = policy_key(key)) != -1) {
		if (l == NULL || !policy_has(l->policy, k))
			return -1;
		if (k == POL_AFTER)
			queue_after_names(l->policy, b);
		else
			policy_show(l->policy, k, b);
		return 0;
	}
	if (queue_attempt(job, job->natt, &last) == 0) {
		a = &last;
		if (a->how != HOW_RUNNING)
			done = a;
	}
	if (strcmp(key, "id") == 0)
		buf_printf(b, "%llu", (unsigned long long)job->id);
	else if (strcmp(key, "state") == 0)
		buf_adds(b, queue_user_state(job));
	else if (strcmp(key, "attempts") == 0)
		buf_printf(b, "%u", job->natt);
	else if (strcmp(key, "uid") == 0)
		buf_printf(b, "%lu", (unsigned long)job->uid);
	else if (strcmp(key, "created") == 0)
		buf_adds(b, util_rfc3339(job->ctime, t, sizeof t));
	else if (strcmp(key, "changed") == 0)
		buf_adds(b, util_rfc3339(job->mtime, t, sizeof t));
	else if (strcmp(key, "started") == 0 && a != NULL)
		buf_adds(b, util_rfc3339(a->started, t, sizeof t));
	else if (strcmp(key, "ended") == 0 && done != NULL)
		buf_adds(b, util_rfc3339(done->ended, t, sizeof t));
	else if (strcmp(key, "duration") == 0 && a != NULL)
		xattr_duration(a, b);
	else if (strcmp(key, "reason") == 0 && job->state == JOB_FAILED &&
	    job->natt == 0 && l != NULL && l->depfail != 0)
		buf_adds(b, "dependency");
	else if (strcmp(key, "reason") == 0 && done != NULL &&
	    view_reason(done) != NULL)
		buf_adds(b, view_reason(done));
	else if (strcmp(key, "exit") == 0 && done != NULL &&
	    (done->how == HOW_EXIT ||
	    (done->how == HOW_TIMEOUT && done->signal == 0)))
		buf_printf(b, "%d", done->status);
	else if (strcmp(key, "signal") == 0 && done != NULL &&
	    done->signal != 0)
		buf_adds(b, view_signame(done->signal, t, sizeof t));
	else if (strcmp(key, "pid") == 0 && job->state == JOB_ACTIVE &&
	    l != NULL && l->pid > 0)
		buf_printf(b, "%ld", (long)l->pid);
	else if (strcmp(key, "retry_at") == 0 && job->state == JOB_PENDING &&
	    l != NULL && l->retry_at != 0)
		buf_adds(b, util_rfc3339(l->retry_at, t, sizeof t));
	else
		return -1;
	return 0;
}

/* Get attribute name of job into b; -ENODATA if it has no such one. */
int
xattr_get(const struct job *job, const char *name, struct buf *b)
{
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	if (xattr_value(job, name + strlen(XATTR_PREFIX), b) != 0)
		return -ENODATA;
	return 0;
}

/* List the names of the attributes job has, NUL-separated, into b. */
void
xattr_list(const struct job *job, struct buf *b)
{
	struct buf	v;
	size_t		i;

	buf_init(&v);
	for (i = 0; i < sizeof xattr_names / sizeof xattr_names[0]; i++) {
		buf_reset(&v);
		if (xattr_value(job, xattr_names[i], &v) != 0)
			continue;
		buf_adds(b, XATTR_PREFIX);
		buf_adds(b, xattr_names[i]);
		buf_add(b, "", 1);
	}
	buf_free(&v);
}
