/*
 * xattr.c: the user.filed.* extended attributes of job files, so that
 * `getfattr -d` shows a job's metadata. They are read-only; values are
 * plain text without a trailing newline, times in RFC 3339 UTC.
 */

#include <errno.h>
#include <string.h>

#include "filed.h"

#define XATTR_PREFIX	"user.filed."

static int	xattr_value(const struct job *, const char *, struct buf *);

static const char *xattr_names[] = {
	"id", "state", "attempts", "uid", "created", "changed", "started",
	"ended", "exit", "signal", "pid", "retry_at"
};

/* Put the value of attribute key (without prefix) into b; -1 if unset. */
static int
xattr_value(const struct job *job, const char *key, struct buf *b)
{
	const struct job_live	*l = job->live;
	const struct attempt	*a = NULL;
	struct attempt		 last;
	char			 t[64];

	if (queue_attempt(job, job->natt, &last) == 0)
		a = &last;
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
	else if (strcmp(key, "ended") == 0 && a != NULL &&
	    a->how != HOW_RUNNING)
		buf_adds(b, util_rfc3339(a->ended, t, sizeof t));
	else if (strcmp(key, "exit") == 0 && a != NULL &&
	    (a->how == HOW_EXIT ||
	    (a->how == HOW_TIMEOUT && a->signal == 0)))
		buf_printf(b, "%d", a->status);
	else if (strcmp(key, "signal") == 0 && a != NULL && a->signal != 0 &&
	    a->how != HOW_RUNNING)
		buf_printf(b, "%d", a->signal);
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
