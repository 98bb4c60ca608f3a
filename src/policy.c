/*
 * policy.c: a job's policy, the user.filed.* attributes that its users set
 * on a draft (or a failed job) before it is queued:
 *
 * - overrides of the settings max_retries, timeout, kill_grace,
 *   backoff_base, backoff_mult and nice for this job alone, parsed and
 *   ranged by conf.c's table, so that a value means what it means in
 *   filed.ini;
 * - priority, -100 .. 100: the run queue is one FIFO per level (queue.c);
 * - not_before: a time before which the job does not start, given as RFC
 *   3339 or +SECONDS from the moment it is set, and kept as an absolute
 *   time (ns since the epoch);
 * - after: the jobs it runs after, given by name and kept by id, in
 *   ascending order (queue.c resolves the names: queue_after_parse).
 *
 * A value has two spellings: what a user writes (policy_parse) and the
 * canonical one that the journal holds and policy_set takes, which reads
 * back as the same value, so that a snapshot replays to the same state.
 * A job without any of them has no struct policy at all.
 *
 * No libuv, no FUSE: this file links into the unit tests as is.
 */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filed.h"

#define POL_DELAY_MAX	1000000000LL	/* seconds of +SECONDS at most */

static const char *policy_names[POL_NKEYS] = {
	"max_retries", "timeout", "kill_grace", "backoff_base",
	"backoff_mult", "nice", "priority", "not_before", "after"
};

static int	 policy_int(const char *, long long, long long, long long *);
static int	 policy_digits(const char *, int, int *);
static int	 policy_rfc3339(const char *, int64_t *);
static void	 policy_canon(const struct policy *, int, struct buf *);
static int	 policy_ids(const char *, uint64_t **, unsigned *);

/* Return the key of an attribute name (without user.filed.), or -1. */
int
policy_key(const char *name)
{
	int	k;

	for (k = 0; k < POL_NKEYS; k++) {
		if (strcmp(policy_names[k], name) == 0)
			return k;
	}
	return -1;
}

/* Return the name of key k, as the attribute and the journal spell it. */
const char *
policy_name(int k)
{
	if (k < 0 || k >= POL_NKEYS)
		fatalx("policy_name: key %d", k);
	return policy_names[k];
}

/*
 * Parse a plain decimal integer (an optional '-', digits, nothing else)
 * in [min, max] into *out; -1 if it is anything else.
 */
static int
policy_int(const char *s, long long min, long long max, long long *out)
{
	const char	*p = s;
	long long	 v = 0;
	int		 neg = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Read exactly n digits at *s into *out. */
static int
policy_digits(const char *s, int n, int *out)
{
	int	i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parse an RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS[.FRACTION] followed by
 * Z or +HH:MM / -HH:MM ('t' and 'z' too, as the RFC allows), into ns
 * since the epoch. A time before 1970 or after 2262 (what 64 bits of ns
 * hold) is refused.
 */
static int
policy_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	struct tm	 tm;
	const char	*p;
	int64_t		 ns = 0, scale = 100000000, secs;
	int		 y, mo, d, h, mi, sec, oh, om, sign;
	time_t		 t;

	if (strlen(s) < 20 || policy_digits(s, 4, &y) != 0 || s[4] != '-' ||
	    policy_digits(s + 5, 2, &mo) != 0 || s[7] != '-' ||
	    policy_digits(s + 8, 2, &d) != 0 ||
	    (s[10] != 'T' && s[10] != 't') ||
	    policy_digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    policy_digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    policy_digits(s + 17, 2, &sec) != 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -1;
		for (p++; isdigit((unsigned char)*p); p++) {
			ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		oh = om = sign = 0;
	else if ((*p == '+' || *p == '-') &&
	    policy_digits(p + 1, 2, &oh) == 0 && p[3] == ':' &&
	    policy_digits(p + 4, 2, &om) == 0 && p[6] == '\0' &&
	    oh <= 23 && om <= 59)
		sign = *p == '-' ? -1 : 1;
	else
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;	/* a leap second: its eve */
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* February 30 and the like come back as another day: refused. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	secs = (int64_t)t - sign * (oh * 3600 + om * 60);
	if (secs < 0 || secs > INT64_MAX / 1000000000 - 1)
		return -1;
	*out = secs * 1000000000 + ns;
	return 0;
}

/*
 * Parse the len bytes a user wrote as the value of key k, at time now
 * (ns), into its canonical spelling in canon (appended, NUL-terminated).
 * Returns 0, or -1 with a malloc'd *cause for the log.
 */
int
policy_parse(int k, const char *val, size_t len, int64_t now,
    struct buf *canon, char **cause)
{
	char		*s, v[64];
	long long	 n;
	int64_t		 t;
	double		 d;
	int		 rv = -1;

	if (k == POL_AFTER)
		fatalx("policy_parse: after is parsed by the queue");
	if (memchr(val, '\0', len) != NULL) {
		*cause = xasprintf("%s: a NUL byte in the value",
		    policy_name(k));
		return -1;
	}
	s = xstrndup(val, len);
	if (k < POL_NCONF) {
		if (conf_key_parse(policy_name(k), s, &d, cause) != 0)
			goto out;
		conf_key_fmt(policy_name(k), d, v, sizeof v);
	} else if (k == POL_PRIORITY) {
		if (policy_int(s, POL_PRIO_MIN, POL_PRIO_MAX, &n) != 0) {
			*cause = xasprintf("priority: must be an integer from "
			    "%d to %d", POL_PRIO_MIN, POL_PRIO_MAX);
			goto out;
		}
		snprintf(v, sizeof v, "%lld", n);
	} else {
		if (s[0] == '+' &&
		    policy_int(s + 1, 0, POL_DELAY_MAX, &n) == 0)
			t = now + (int64_t)n * 1000000000;
		else if (policy_rfc3339(s, &t) != 0) {
			*cause = xstrdup("not_before: must be an RFC 3339 time "
			    "(2026-12-24T18:00:00Z) or +SECONDS (+3600)");
			goto out;
		}
		snprintf(v, sizeof v, "%" PRId64, t > 0 ? t : 1);
	}
	buf_adds(canon, v);
	rv = 0;
out:
	free(s);
	return rv;
}

/*
 * Parse a canonical list of ids ("3,7": ascending, each once) into a new
 * array; -1 for anything else.
 */
static int
policy_ids(const char *s, uint64_t **idsp, unsigned *np)
{
	uint64_t	*ids = NULL, id;
	unsigned	 n = 0;
	char		 num[24];
	const char	*comma;
	size_t		 len;
	long long	 v;

	while (*s != '\0') {
		comma = strchr(s, ',');
		len = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (len == 0 || len >= sizeof num)
			goto bad;
		memcpy(num, s, len);
		num[len] = '\0';
		if (num[0] == '-' || policy_int(num, 1, INT64_MAX, &v) != 0)
			goto bad;
		id = (uint64_t)v;
		if (n > 0 && id <= ids[n - 1])
			goto bad;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = id;
		s += len;
		if (*s == ',' && *++s == '\0')
			goto bad;
	}
	if (n == 0)
		goto bad;
	*idsp = ids;
	*np = n;
	return 0;
bad:
	free(ids);
	return -1;
}

/*
 * Set key k of *pp to the canonical value val, or remove it (val NULL),
 * making or freeing the struct as needed. Returns -1, having changed
 * nothing, for a value that is not canonical (a damaged journal).
 */
int
policy_set(struct policy **pp, int k, const char *val)
{
	struct policy	 p;
	struct buf	 back;
	char		*cause;
	long long	 n;
	double		 d = 0;
	uint64_t	*ids = NULL;
	unsigned	 nids = 0;
	int		 same;

	if (k < 0 || k >= POL_NKEYS)
		return -1;
	p = *pp != NULL ? **pp : (struct policy){ 0 };
	if (val == NULL)
		p.set &= ~(1U << k);
	else {
		if (k == POL_AFTER) {
			if (policy_ids(val, &ids, &nids) != 0)
				return -1;
			p.after = ids;
			p.nafter = nids;
		} else if (k < POL_NCONF) {
			if (conf_key_parse(policy_name(k), val, &d,
			    &cause) != 0) {
				free(cause);
				return -1;
			}
			p.conf[k] = d;
		} else if (k == POL_PRIORITY) {
			if (policy_int(val, POL_PRIO_MIN, POL_PRIO_MAX,
			    &n) != 0)
				return -1;
			p.priority = (int)n;
		} else {
			if (policy_int(val, 1, INT64_MAX, &n) != 0)
				return -1;
			p.not_before = n;
		}
		p.set |= 1U << k;
		/* One spelling only: what policy_snapshot writes back. */
		buf_init(&back);
		policy_canon(&p, k, &back);
		same = strcmp(back.data, val) == 0;
		buf_free(&back);
		if (!same) {
			free(ids);
			return -1;
		}
	}
	/* The list replaced or removed is the old struct's to free. */
	if (k == POL_AFTER) {
		if (*pp != NULL)
			free((*pp)->after);
		p.after = ids;
		p.nafter = nids;
	}
	if (p.set == 0) {
		free(*pp);
		*pp = NULL;
		return 0;
	}
	if (*pp == NULL)
		*pp = xmalloc(sizeof **pp);
	**pp = p;
	return 0;
}

/* Does the policy p (NULL: none) give key k? */
int
policy_has(const struct policy *p, int k)
{
	return p != NULL && (p->set & (1U << k)) != 0;
}

/* Append the canonical spelling of key k of p, which has it, to b. */
static void
policy_canon(const struct policy *p, int k, struct buf *b)
{
	char		v[64];
	unsigned	i;

	if (k == POL_AFTER) {
		for (i = 0; i < p->nafter; i++)
			buf_printf(b, "%s%" PRIu64, i > 0 ? "," : "",
			    p->after[i]);
		return;
	}
	if (k < POL_NCONF)
		conf_key_fmt(policy_name(k), p->conf[k], v, sizeof v);
	else if (k == POL_PRIORITY)
		snprintf(v, sizeof v, "%d", p->priority);
	else
		snprintf(v, sizeof v, "%" PRId64, p->not_before);
	buf_adds(b, v);
}

/*
 * Put key k of p into b as getfattr shows it: numbers as in filed.ini,
 * not_before in RFC 3339 UTC. Returns -1 if p does not give it.
 */
int
policy_show(const struct policy *p, int k, struct buf *b)
{
	char	t[64];

	if (!policy_has(p, k))
		return -1;
	if (k == POL_NOT_BEFORE)
		buf_adds(b, util_rfc3339(p->not_before, t, sizeof t));
	else
		policy_canon(p, k, b);
	return 0;
}

/* The value of setting k (< POL_NCONF) for a job: p's, else dflt. */
double
policy_num(const struct policy *p, int k, double dflt)
{
	if (k < 0 || k >= POL_NCONF || !policy_has(p, k))
		return dflt;
	return p->conf[k];
}

/* A job's priority: 0 unless p gives one. */
int
policy_priority(const struct policy *p)
{
	return policy_has(p, POL_PRIORITY) ? p->priority : 0;
}

/* The time a job may start from (ns), or 0 for any time. */
int64_t
policy_not_before(const struct policy *p)
{
	return policy_has(p, POL_NOT_BEFORE) ? p->not_before : 0;
}

/* Append one "policy" record body (a line) per key of job id's p. */
void
policy_snapshot(const struct policy *p, uint64_t id, struct buf *out)
{
	struct buf	v;
	int		k;

	buf_init(&v);
	for (k = 0; k < POL_NKEYS; k++) {
		if (!policy_has(p, k))
			continue;
		buf_reset(&v);
		policy_canon(p, k, &v);
		rec_begin(out, "policy");
		rec_add_u64(out, "id", id);
		rec_add_str(out, "key", policy_name(k));
		rec_add_str(out, "value", v.data);
		buf_addc(out, '\n');
	}
	buf_free(&v);
}

/* The ids of the jobs p runs after, and their number in *np (0: none). */
const uint64_t *
policy_after(const struct policy *p, unsigned *np)
{
	if (!policy_has(p, POL_AFTER)) {
		*np = 0;
		return NULL;
	}
	*np = p->nafter;
	return p->after;
}

/*
 * Take id out of the jobs *pp runs after (it completed and is gone: it no
 * longer holds anything back), removing the key when none is left.
 */
void
policy_drop_after(struct policy **pp, uint64_t id)
{
	struct policy	*p = *pp;
	unsigned	 i;

	if (!policy_has(p, POL_AFTER))
		return;
	for (i = 0; i < p->nafter && p->after[i] != id; i++)
		;
	if (i == p->nafter)
		return;
	memmove(&p->after[i], &p->after[i + 1],
	    (p->nafter - i - 1) * sizeof *p->after);
	if (--p->nafter == 0)
		policy_set(pp, POL_AFTER, NULL);
}

/* Free a policy (NULL is fine). */
void
policy_free(struct policy *p)
{
	if (p != NULL)
		free(p->after);
	free(p);
}
