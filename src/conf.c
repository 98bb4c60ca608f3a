/*
 * conf.c: the settings. One table lists every key with its type, range and
 * the comment written over it in the INI file; the INI reader (inih), the
 * INI writer and the JSON codec (jansson) all walk that table, so a new
 * setting is a row here and a field in struct conf.
 *
 * - The INI file is the durable copy. config.json is rendered from the
 *   struct, and a write to it is validated in full, saved to the INI file
 *   (conf_save: temp file, fsync, rename, directory fsync) and only then
 *   applied by the caller (config.c).
 * - A struct conf that comes out of this file is valid: every value in
 *   range, every number finite. A failed load or parse leaves the caller's
 *   struct untouched and returns a malloc'd cause that names the file and
 *   line (INI) or line and column (JSON).
 * - Numbers are written so that they read back as the identical double.
 * - Text (workdir) and maps ([env]) are values like the numbers, kept in
 *   fixed room in struct conf, so a struct conf is copied whole and owns
 *   no memory. Each must fit one line of the INI file and read back the
 *   same through inih, which strips blanks and cuts comments: the checks
 *   refuse what would not (conf_text_ok).
 * - conf_save blocks and runs on the thread pool, so nothing here touches
 *   state shared with the loop, and strerror_r replaces strerror.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#include "filed.h"

enum conf_type {
	CONF_INT,			/* an int64_t: integer in INI and JSON */
	CONF_NUM,			/* a double: any finite number */
	CONF_WORD,			/* an int64_t: the index of one of words */
	CONF_MODE,			/* an int64_t: octal, a string in JSON */
	CONF_STR,			/* char[max + 1]: a string */
	CONF_MAP			/* struct conf_map: a section [name] in
					   INI, an object of strings in JSON */
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* of the field in struct conf */
	double		 min;		/* inclusive range */
	double		 max;		/* CONF_STR: bytes */
	const char	*help;		/* one line, over the key in the INI */
	const char *const *words;	/* CONF_WORD: the values, in order */
	/* CONF_STR: the value, CONF_MAP: a name; NULL if fine, or why not */
	const char	*(*check)(const char *);
	/* CONF_STR: what only the file system can say (blocks); malloc'd */
	char		*(*probe)(const char *);
};

#define CONF_KEY(name, type, min, max, help) \
	{ #name, type, offsetof(struct conf, name), min, max, help, NULL, \
	    NULL, NULL }
#define CONF_WORDS(name, words, nwords, help) \
	{ #name, CONF_WORD, offsetof(struct conf, name), 0, (nwords) - 1, \
	    help, words, NULL, NULL }
#define CONF_TEXT(name, check, probe, help) \
	{ #name, CONF_STR, offsetof(struct conf, name), 0, \
	    sizeof(((struct conf *)0)->name) - 1, help, NULL, check, probe }
#define CONF_SECT(name, check, help) \
	{ #name, CONF_MAP, offsetof(struct conf, name), 0, CONF_MAP_MAX, \
	    help, NULL, check, NULL }

static const char *const conf_run_as[] = { "filed", "submitter" };

static const char *conf_check_workdir(const char *);
static char	*conf_probe_workdir(const char *);
static char	*conf_outside_mount(const char *);
static const char *conf_check_shell(const char *);
static char	*conf_probe_shell(const char *);
static const char *conf_check_env(const char *);

static const struct conf_key conf_keys[] = {
	CONF_KEY(max_retries, CONF_INT, 0, 1000000,
	    "Retries after the first attempt before a job fails; default 3."),
	CONF_KEY(max_jobs, CONF_INT, 0, 4096,
	    "Jobs running at once, 0 = paused (none start); default: the"
	    " number of CPUs."),
	CONF_KEY(backoff_base, CONF_NUM, 0, 1e9,
	    "Seconds before a retry: backoff_base * backoff_mult ^ attempts;"
	    " default 1."),
	CONF_KEY(backoff_mult, CONF_NUM, 1, 1e6,
	    "Factor the wait grows by with each attempt, >= 1; default 2."),
	CONF_KEY(timeout, CONF_NUM, 0, 1e9,
	    "Seconds an attempt may run before SIGTERM, 0 = no limit;"
	    " default 0."),
	CONF_KEY(kill_grace, CONF_NUM, 0, 1e9,
	    "Seconds between SIGTERM and SIGKILL; default 5."),
	CONF_KEY(max_job_size, CONF_INT, 1, 16777216,
	    "Bytes of job text; a longer job is refused (EFBIG);"
	    " default 65536."),
	CONF_WORDS(run_as, conf_run_as, 2,
	    "Whom attempts run as: filed (filed's user) or submitter (the"
	    " job's creator; filed must run as root); default filed."),
	CONF_KEY(allow_root, CONF_INT, 0, 1,
	    "With run_as = submitter, 1 lets jobs created by root run;"
	    " default 0."),
	CONF_KEY(max_jobs_total, CONF_INT, 1, 10000000,
	    "Jobs that may exist in all four directories; more get ENOSPC;"
	    " default 100000."),
	CONF_TEXT(workdir, conf_check_workdir, conf_probe_workdir,
	    "Directory attempts start in, an absolute path; empty: / (with"
	    " run_as = submitter: the home of the job's creator); default"
	    " empty."),
	CONF_KEY(umask, CONF_MODE, 0, 077,
	    "umask of attempts, octal from 000 to 077; default 022."),
	CONF_KEY(max_log_size, CONF_INT, 0, 1099511627776.0,
	    "Bytes of output an attempt keeps; the rest is dropped and"
	    " counted in its log; 0 = no limit; default 0."),
	CONF_KEY(nice, CONF_INT, 0, 19,
	    "Niceness attempts run at, 0 = filed's own; a job's user.filed.nice"
	    " overrides it; default 0."),
	CONF_TEXT(shell, conf_check_shell, conf_probe_shell,
	    "Interpreter of a job without #!: an absolute path and at most"
	    " one argument, as on a #! line; default /bin/sh."),
	CONF_KEY(keep_complete, CONF_NUM, 0, 1e9,
	    "Seconds a job stays in complete/ after it finished; then filed"
	    " removes it, 0 = for good; default 0."),
	CONF_KEY(keep_failed, CONF_NUM, 0, 1e9,
	    "Seconds a job stays in failed/ after it failed; then filed"
	    " removes it, 0 = for good; default 0."),
	CONF_KEY(max_logs_total, CONF_INT, 0, 1e14,
	    "Bytes the output files of finished jobs may take; beyond, the"
	    " oldest finished jobs are removed, complete/ first; 0 = no limit;"
	    " default 0."),
	CONF_SECT(env, conf_check_env,
	    "[env]: variables added to every job's environment, NAME = value"
	    " (not FILED_JOB, FILED_ATTEMPT, FILED_RUN); at most 64."),
};
#define CONF_NKEYS	(sizeof conf_keys / sizeof conf_keys[0])

#define CONF_SECTION	"queue"
#define CONF_CLEAN_MAX	64		/* bytes of a name quoted in a cause */
#define CONF_BLANK	" \t\r\v\f"	/* whitespace other than newline */
#define CONF_JSON_WS	" \t\r\n"	/* whitespace in JSON */
#define CONF_NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"abcdefghijklmnopqrstuvwxyz_"	/* and digits after */
#define CONF_WHY	128		/* bytes of a reason */

/* Where filed mounts, resolved (conf_set_mount); set before any load. */
static char	*conf_mount;

/* The state of one INI parse. */
struct conf_ini {
	const char	*path;
	FILE		*f;
	int		 line;		/* of the line last handed to inih */
	int		 read_errno;	/* non-zero after a read error */
	struct conf	 c;
	int		 seen[CONF_NKEYS];
	char		*cause;		/* the first error, or NULL */
	int		 cause_line;
};

static const struct conf_key *conf_find(const char *);
static double	 conf_get(const struct conf *, const struct conf_key *);
static void	 conf_put(struct conf *, const struct conf_key *, double);
static int	 conf_valid(const struct conf_key *, double);
static int	 conf_text_ok(const char *, size_t, char *, size_t);
static char	*conf_str_put(struct conf *, const struct conf_key *,
		     const char *);
static int	 conf_map_cmp(const char *, const char *);
static char	*conf_map_put(struct conf *, const struct conf_key *,
		     const char *, const char *);
static int	 conf_section(const char *);
static char	*conf_ini_value(const char *);
static void	 conf_json_str(struct buf *, const char *);
static void	 conf_json_value(struct buf *, const struct conf *,
		     const struct conf_key *);
static char	*conf_json_put(struct conf *, const struct conf_key *,
		     json_t *);
static char	*conf_range(const struct conf_key *);
static const char *conf_check(const struct conf *);
static const char *conf_strerror(int, char *, size_t);
static void	 conf_fmt(const struct conf *, const struct conf_key *,
		     char *, size_t);
static void	 conf_fmt_value(const struct conf_key *, double, char *,
		     size_t);
static int	 conf_parse_value(const struct conf_key *, const char *,
		     double *);
static void	 conf_ini_error(struct conf_ini *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
static char	*conf_ini_read(char *, int, void *);
static int	 conf_ini_handler(void *, const char *, const char *,
		     const char *);
static void	 conf_render(const struct conf *, struct buf *);
static int	 conf_write_all(int, const char *, size_t);
static char	*conf_dirname(const char *);
static int	 conf_blank(const char *, size_t);
static int	 conf_json_truncated(const char *, size_t);
static int	 conf_json_decode(const char *, size_t, const struct conf *,
		     struct conf *, char **, int *);

/* Return the table row for a key name, or NULL. */
static const struct conf_key *
conf_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

/* Return a key's value as a double; exact, as integer keys are small. */
static double
conf_get(const struct conf *c, const struct conf_key *k)
{
	const char	*p = (const char *)c + k->off;

	if (k->type != CONF_NUM)
		return (double)*(const int64_t *)p;
	return *(const double *)p;
}

/* Store a value that conf_valid accepted; -0 becomes 0. */
static void
conf_put(struct conf *c, const struct conf_key *k, double v)
{
	char	*p = (char *)c + k->off;

	if (v == 0)
		v = 0;
	if (k->type != CONF_NUM)
		*(int64_t *)p = (int64_t)v;
	else
		*(double *)p = v;
}

/* Return non-zero if v is finite and in the key's range. */
static int
conf_valid(const struct conf_key *k, double v)
{
	return isfinite(v) && v >= k->min && v <= k->max;
}

/*
 * A text value must fit one line of the INI file and read back the same
 * through inih: at most max bytes of UTF-8 (so config.json can show it),
 * no control character, no blank at either end (inih strips them), no ';'
 * or '#' after a blank (a comment). Return 0, or -1 with why written.
 */
static int
conf_text_ok(const char *s, size_t max, char *why, size_t size)
{
	const char	*p;
	size_t		 len = strlen(s);
	json_t		*j;

	if (len > max) {
		snprintf(why, size, "longer than %zu bytes", max);
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, size, "holds a control character");
			return -1;
		}
		if ((*p == ';' || *p == '#') && p > s && p[-1] == ' ') {
			snprintf(why, size, "holds \" %c\", which starts a "
			    "comment in the INI file", *p);
			return -1;
		}
	}
	if (len > 0 && (s[0] == ' ' || s[len - 1] == ' ')) {
		snprintf(why, size, "starts or ends with a blank");
		return -1;
	}
	if ((j = json_stringn(s, len)) == NULL) {
		snprintf(why, size, "is not UTF-8");
		return -1;
	}
	json_decref(j);
	return 0;
}

/* workdir: empty (the default) or an absolute path. */
static const char *
conf_check_workdir(const char *s)
{
	if (*s != '\0' && *s != '/')
		return "must be an absolute path, or empty for the default";
	return NULL;
}

/*
 * workdir, as it is loaded: a directory, and not in filed's own mount,
 * where an attempt could never start (the child enters its directory
 * while posix_spawn holds filed's only thread, which alone could answer
 * for the mount). It blocks (stat, realpath): never on the loop.
 */
static char *
conf_probe_workdir(const char *dir)
{
	struct stat	 sb;
	char		 eb[128];

	if (*dir == '\0')
		return NULL;
	if (stat(dir, &sb) == -1)
		return xasprintf("%s: %s", dir,
		    conf_strerror(errno, eb, sizeof eb));
	if (!S_ISDIR(sb.st_mode))
		return xasprintf("%s: not a directory", dir);
	return conf_outside_mount(dir);
}

/*
 * A path that an attempt's start opens (its directory, its shell) must
 * not be in filed's own mount: only filed answers for the mount, and
 * posix_spawn holds filed's one thread while the child opens it. NULL, or
 * why not (malloc'd). It blocks (realpath): never on the loop.
 */
static char *
conf_outside_mount(const char *path)
{
	if (conf_mount == NULL || !util_path_under(path, conf_mount))
		return NULL;
	return xasprintf("%s: inside filed's own mount %s", path, conf_mount);
}

/* shell: an absolute path, then at most one argument after blanks. */
static const char *
conf_check_shell(const char *s)
{
	if (*s != '/')
		return "must be an absolute path, then at most one argument";
	return NULL;
}

/*
 * shell, as it is loaded: its program (the part before the first blank)
 * is an executable regular file, not in filed's own mount. It blocks
 * (stat): never on the loop.
 */
static char *
conf_probe_shell(const char *s)
{
	struct stat	 sb;
	char		 eb[128], *path;
	char		*why = NULL;

	path = xstrndup(s, strcspn(s, " \t"));
	if (stat(path, &sb) == -1)
		why = xasprintf("%s: %s", path,
		    conf_strerror(errno, eb, sizeof eb));
	else if (!S_ISREG(sb.st_mode))
		why = xasprintf("%s: not a regular file", path);
	else if (access(path, X_OK) == -1)
		why = xasprintf("%s: not executable: %s", path,
		    conf_strerror(errno, eb, sizeof eb));
	else
		why = conf_outside_mount(path);
	free(path);
	return why;
}

/* A name of [env]: a portable shell name that filed does not set. */
static const char *
conf_check_env(const char *s)
{
	static const char *const own[] = { "FILED_JOB", "FILED_ATTEMPT",
	    "FILED_RUN" };
	size_t	i;

	if (*s == '\0' || strchr(CONF_NAME_CHARS, *s) == NULL ||
	    s[strspn(s, CONF_NAME_CHARS "0123456789")] != '\0')
		return "not a portable name (letters, digits and '_', not "
		    "starting with a digit)";
	if (strlen(s) > CONF_MAP_NAME)
		return "longer than 64 bytes";
	for (i = 0; i < sizeof own / sizeof own[0]; i++) {
		if (strcmp(s, own[i]) == 0)
			return "filed sets it for each attempt";
	}
	return NULL;
}

/* Set the text key k of c to s: NULL, or why not (malloc'd). */
static char *
conf_str_put(struct conf *c, const struct conf_key *k, const char *s)
{
	char		*p = (char *)c + k->off, why[CONF_WHY];
	const char	*w;

	if (conf_text_ok(s, (size_t)k->max, why, sizeof why) != 0)
		return xasprintf("%s: %s", k->name, why);
	if (k->check != NULL && (w = k->check(s)) != NULL)
		return xasprintf("%s: %s", k->name, w);
	/* The whole field, so that equal settings are equal bytes. */
	memset(p, 0, (size_t)k->max + 1);
	memcpy(p, s, strlen(s));
	return NULL;
}

/* Compare the name of a map entry ("NAME=value") with a name. */
static int
conf_map_cmp(const char *ent, const char *name)
{
	size_t	el = strcspn(ent, "="), nl = strlen(name);
	int	r;

	if ((r = memcmp(ent, name, el < nl ? el : nl)) != 0)
		return r;
	return (el > nl) - (el < nl);
}

/*
 * Add name = value to the map of key k in c, in name order: NULL, or why
 * not (malloc'd).
 */
static char *
conf_map_put(struct conf *c, const struct conf_key *k, const char *name,
    const char *value)
{
	struct conf_map	*m = (struct conf_map *)((char *)c + k->off);
	char		 n[CONF_CLEAN_MAX], why[CONF_WHY];
	const char	*w;
	unsigned	 i;
	int		 r = 1;

	if ((w = k->check(name)) != NULL)
		return xasprintf("%s: '%s': %s", k->name,
		    util_printable(name, n, sizeof n), w);
	for (i = 0; i < m->n && (r = conf_map_cmp(m->ent[i], name)) < 0; i++)
		continue;
	if (i < m->n && r == 0)
		return xasprintf("%s: %s: set twice", k->name, name);
	if (conf_text_ok(value, CONF_MAP_ENTRY - strlen(name) - 1, why,
	    sizeof why) != 0)
		return xasprintf("%s: %s: the value is %s%s", k->name, name,
		    strncmp(why, "longer", 6) == 0 ? "" : "refused: it ", why);
	if (m->n == CONF_MAP_MAX)
		return xasprintf("%s: more than %d entries", k->name,
		    CONF_MAP_MAX);
	memmove(m->ent[i + 1], m->ent[i], (m->n - i) * sizeof m->ent[0]);
	memset(m->ent[i], 0, sizeof m->ent[i]);
	snprintf(m->ent[i], sizeof m->ent[i], "%s=%s", name, value);
	m->n++;
	return NULL;
}

/*
 * Say where filed mounts (resolved), so that no workdir is put inside it.
 * Called before the first load, never while one runs on the thread pool.
 */
void
conf_set_mount(const char *path)
{
	free(conf_mount);
	conf_mount = path != NULL ? xstrdup(path) : NULL;
}

/*
 * Check what only the file system can say of settings from config.json,
 * as they are saved (it blocks: on the thread pool): the text keys they
 * change from old (workdir: a directory now). 0, or -1 with *cause.
 */
int
conf_check_dirs(const struct conf *c, const struct conf *old, char **cause)
{
	const struct conf_key	*k;
	const char		*v;
	char			*why;
	size_t			 i;

	for (i = 0; i < CONF_NKEYS; i++) {
		k = &conf_keys[i];
		if (k->type != CONF_STR || k->probe == NULL)
			continue;
		v = (const char *)c + k->off;
		if (strcmp(v, (const char *)old + k->off) == 0 ||
		    (why = k->probe(v)) == NULL)
			continue;
		*cause = xasprintf("config.json: %s: %s", k->name, why);
		free(why);
		return -1;
	}
	return 0;
}

/* Describe a key's type and range, as every bad value is reported. */
static char *
conf_range(const struct conf_key *k)
{
	if (k->type == CONF_WORD)
		return xasprintf("%s: must be %s or %s", k->name, k->words[0],
		    k->words[1]);
	if (k->type == CONF_MODE)
		return xasprintf("%s: must be octal digits from %03lo to %03lo"
		    " (a string in config.json)", k->name,
		    (unsigned long)k->min, (unsigned long)k->max);
	if (k->type == CONF_STR)
		return xasprintf("%s: must be a string", k->name);
	if (k->type == CONF_MAP)
		return xasprintf("%s: must be an object of strings", k->name);
	return xasprintf("%s: must be %s from %.15g to %.15g", k->name,
	    k->type == CONF_INT ? "an integer" : "a number", k->min, k->max);
}

/* Return the text for errno e; unlike strerror, safe on the thread pool. */
static const char *
conf_strerror(int e, char *buf, size_t size)
{
	return strerror_r(e, buf, size);
}

/* Format a key's value: a string as it is, anything else by its value. */
static void
conf_fmt(const struct conf *c, const struct conf_key *k, char *out,
    size_t size)
{
	if (k->type == CONF_STR) {
		snprintf(out, size, "%s", (const char *)c + k->off);
		return;
	}
	conf_fmt_value(k, conf_get(c, k), out, size);
}

/*
 * Format a value v of key k. An integral number is written as an integer;
 * any other as the shortest of %.15g, %.16g and %.17g that reads back as
 * the same double, so 0.1 is "0.1" and not "0.10000000000000001".
 */
static void
conf_fmt_value(const struct conf_key *k, double v, char *out, size_t size)
{
	int	prec;

	if (k->type == CONF_WORD) {
		snprintf(out, size, "%s", k->words[(long)v]);
		return;
	}
	if (k->type == CONF_MODE) {
		snprintf(out, size, "%03lo", (unsigned long)v);
		return;
	}
	if ((v < 0 ? -v : v) < 9007199254740992.0 &&
	    v == (double)(long long)v) {
		snprintf(out, size, "%lld", (long long)v);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(out, size, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
	snprintf(out, size, "%.17g", v);
}

/*
 * Parse an INI value for key k into *vp. Integers are plain decimal; numbers
 * are decimal with an optional fraction and exponent (no hex, inf or nan);
 * modes are one to four octal digits. The whole string must be used and
 * the result must be in range.
 */
static int
conf_parse_value(const struct conf_key *k, const char *s, double *vp)
{
	char		*end;
	long long	 ll;
	double		 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	if (k->type == CONF_WORD) {
		for (v = 0; v <= k->max; v++) {
			if (strcmp(s, k->words[(long)v]) == 0) {
				*vp = v;
				return 0;
			}
		}
		return -1;
	}
	errno = 0;
	if (k->type == CONF_MODE) {
		if (strlen(s) > 4 || s[strspn(s, "01234567")] != '\0')
			return -1;
		v = (double)strtol(s, NULL, 8);
	} else if (k->type == CONF_INT) {
		if (s[strspn(s, "+-0123456789")] != '\0')
			return -1;
		ll = strtoll(s, &end, 10);
		if (end == s || *end != '\0' || errno == ERANGE)
			return -1;
		v = (double)ll;
	} else {
		if (s[strspn(s, "+-.0123456789eE")] != '\0')
			return -1;
		/* Underflow (ERANGE with a tiny result) is a valid value. */
		v = strtod(s, &end);
		if (end == s || *end != '\0')
			return -1;
	}
	if (!conf_valid(k, v))
		return -1;
	*vp = v;
	return 0;
}

/* Set the defaults. */
void
conf_defaults(struct conf *c)
{
	long	ncpu;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 4096)
		ncpu = 4096;

	memset(c, 0, sizeof *c);
	c->max_retries = 3;
	c->max_jobs = ncpu;
	c->backoff_base = 1;
	c->backoff_mult = 2;
	c->timeout = 0;
	c->kill_grace = 5;
	c->max_job_size = 65536;
	c->run_as = RUN_AS_FILED;
	c->allow_root = 0;
	c->max_jobs_total = 100000;
	c->umask = 022;
	snprintf(c->shell, sizeof c->shell, "%s", "/bin/sh");
	c->nice = 0;
	c->keep_complete = 0;
	c->keep_failed = 0;
	c->max_logs_total = 0;
}

/*
 * Check what one key cannot say alone: running attempts as their
 * submitter needs filed to be root (setuid, setgid, initgroups).
 */
static const char *
conf_check(const struct conf *c)
{
	if (c->run_as == RUN_AS_SUBMITTER && geteuid() != 0)
		return "run_as: submitter needs filed to run as root";
	return NULL;
}

/* Record an error at the current line, unless an earlier one was. */
static void
conf_ini_error(struct conf_ini *ci, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (ci->cause != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	ci->cause = xasprintf("%s:%d: %s", ci->path, ci->line, msg);
	ci->cause_line = ci->line;
	free(msg);
}

/*
 * The line reader handed to inih, in place of fgets. The handler of the
 * Debian/upstream library gets no line number (INI_HANDLER_LINENO is fixed
 * when the library is built), so this reader counts lines; it also:
 * - hands inih exactly one line per call, so the counts agree: a line
 *   longer than inih's buffer is cut, and is an error unless it is a
 *   comment (inih would otherwise read its tail as another line);
 * - strips leading blanks, so an indented line is never taken as the
 *   continuation of the previous value (inih's multi-line values);
 * - reports a section other than [queue] and the maps' (conf_section)
 *   even when it has no keys, and text after a section header, which inih
 *   ignores.
 */
static char *
conf_ini_read(char *str, int num, void *arg)
{
	struct conf_ini	*ci = arg;
	const char	*p, *q;
	char		*s, name[CONF_CLEAN_MAX];
	size_t		 n = 0, max;
	int		 ch, any = 0, toolong = 0, nul = 0;

	if (num < 3)
		return NULL;
	max = (size_t)num - 2;		/* room for "\n\0" */
	while ((ch = getc(ci->f)) != EOF) {
		any = 1;
		if (ch == '\n')
			break;
		if (n == 0 && strchr(CONF_BLANK, ch) != NULL && ch != '\0')
			continue;
		if (ch == '\0') {
			nul = 1;
			ch = ' ';
		}
		if (n < max)
			str[n++] = (char)ch;
		else
			toolong = 1;
	}
	if (ferror(ci->f)) {
		ci->read_errno = errno != 0 ? errno : EIO;
		return NULL;
	}
	if (!any)
		return NULL;
	str[n++] = '\n';
	str[n] = '\0';
	ci->line++;

	if (nul)
		conf_ini_error(ci, "NUL byte in line");
	if (toolong && strchr(";#", str[0]) == NULL)
		conf_ini_error(ci, "line too long (more than %zu bytes)", max);

	p = str;
	if (ci->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3 + strspn(p + 3, CONF_BLANK);
	if (*p == '[' && (q = strchr(p, ']')) != NULL) {
		s = xstrndup(p + 1, (size_t)(q - p - 1));
		if (!conf_section(s))
			conf_ini_error(ci, "unknown section [%s]",
			    util_printable(s, name, sizeof name));
		free(s);
		q++;
		q += strspn(q, CONF_BLANK);
		if (*q != '\n' && *q != ';' && *q != '#')
			conf_ini_error(ci, "syntax error");
	}
	return str;
}

/* Is name a section of the INI file: [queue], or a map's? */
static int
conf_section(const char *name)
{
	const struct conf_key	*k;

	if (strcmp(name, CONF_SECTION) == 0)
		return 1;
	return (k = conf_find(name)) != NULL && k->type == CONF_MAP;
}

/*
 * The value inih gives, as a new string without its comment: inih cuts
 * inline comments that start with ';'; those starting with '#' are cut
 * here, by the same rule (after whitespace).
 */
static char *
conf_ini_value(const char *value)
{
	char	*v;
	size_t	 i;

	v = xstrdup(value);
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] == '#' && i > 0 && isspace((unsigned char)v[i - 1])) {
			v[i] = '\0';
			break;
		}
	}
	i = strlen(v);
	while (i > 0 && isspace((unsigned char)v[i - 1]))
		v[--i] = '\0';
	return v;
}

/*
 * Called by inih for each key = value. It always returns 1: errors are
 * recorded with their line here, so inih's own return value only reports
 * lines it could not parse.
 */
static int
conf_ini_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_ini		*ci = arg;
	const struct conf_key	*k;
	char			 n[CONF_CLEAN_MAX], *v, *msg;
	double			 d;

	if (*section == '\0') {
		conf_ini_error(ci, "key '%s' is outside a section; expected"
		    " [" CONF_SECTION "]", util_printable(name, n, sizeof n));
		return 1;
	}
	if (strcmp(section, CONF_SECTION) != 0) {
		if (!conf_section(section)) {
			conf_ini_error(ci, "unknown section [%s]",
			    util_printable(section, n, sizeof n));
			return 1;
		}
		/* A map's section: every line is an entry. */
		v = conf_ini_value(value);
		if ((msg = conf_map_put(&ci->c, conf_find(section), name,
		    v)) != NULL) {
			conf_ini_error(ci, "%s", msg);
			free(msg);
		}
		free(v);
		return 1;
	}
	if ((k = conf_find(name)) == NULL || k->type == CONF_MAP) {
		conf_ini_error(ci, "unknown key '%s' in [" CONF_SECTION "]%s",
		    util_printable(name, n, sizeof n), k != NULL ?
		    "; it is a section of its own" : "");
		return 1;
	}
	if (ci->seen[k - conf_keys]) {
		conf_ini_error(ci, "%s: set twice", k->name);
		return 1;
	}
	ci->seen[k - conf_keys] = 1;

	v = conf_ini_value(value);
	if (k->type == CONF_STR) {
		if ((msg = conf_str_put(&ci->c, k, v)) == NULL &&
		    k->probe != NULL && (msg = k->probe(v)) != NULL) {
			/* The value is fine; its directory is not. */
			conf_ini_error(ci, "%s: %s", k->name, msg);
			free(msg);
		} else if (msg != NULL) {
			conf_ini_error(ci, "%s", msg);
			free(msg);
		}
	} else if (conf_parse_value(k, v, &d) != 0) {
		msg = conf_range(k);
		conf_ini_error(ci, "%s", msg);
		free(msg);
	} else {
		conf_put(&ci->c, k, d);
		if ((msg = (char *)conf_check(&ci->c)) != NULL &&
		    k->type == CONF_WORD)
			conf_ini_error(ci, "%s", msg);
	}
	free(v);
	return 1;
}

/*
 * Load the settings from the INI file at path into *out. A missing file is
 * created with the defaults. On error *out is untouched and *cause says
 * what and where.
 */
int
conf_load(const char *path, struct conf *out, char **cause)
{
	struct conf_ini	 ci;
	char		 eb[128];
	int		 rv;

	memset(&ci, 0, sizeof ci);
	ci.path = path;
	conf_defaults(&ci.c);

	if ((ci.f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT) {
			*cause = xasprintf("%s: open: %s", path,
			    conf_strerror(errno, eb, sizeof eb));
			return -1;
		}
		if (conf_save(path, &ci.c, cause) != 0)
			return -1;
		*out = ci.c;
		return 0;
	}

	rv = ini_parse_stream(conf_ini_read, &ci, conf_ini_handler, &ci);
	fclose(ci.f);

	if (ci.read_errno != 0) {
		free(ci.cause);
		*cause = xasprintf("%s: read: %s", path,
		    conf_strerror(ci.read_errno, eb, sizeof eb));
		return -1;
	}
	if (rv < 0) {
		free(ci.cause);
		*cause = xasprintf("%s: cannot parse (inih error %d)", path,
		    rv);
		return -1;
	}
	if (rv > 0 && (ci.cause == NULL || rv < ci.cause_line)) {
		free(ci.cause);
		ci.cause = xasprintf("%s:%d: syntax error", path, rv);
	}
	if (ci.cause != NULL) {
		*cause = ci.cause;
		return -1;
	}
	*out = ci.c;
	return 0;
}

/*
 * Render the INI file: a header, then each key of [queue] under its
 * comment, then each map as a section under its comment.
 */
static void
conf_render(const struct conf *c, struct buf *b)
{
	const struct conf_key	*k;
	const struct conf_map	*m;
	char			 v[CONF_PATH_MAX + 64];
	size_t			 i, nl;
	unsigned		 e;

	buf_adds(b,
	    "# filed's settings.\n"
	    "#\n"
	    "# filed rewrites this file whenever config.json in its mount\n"
	    "# is written, so comments and layout added here are not kept.\n"
	    "# After editing it by hand, send filed SIGHUP to reload it; a\n"
	    "# file with errors is refused and the running settings stay.\n"
	    "\n"
	    "[" CONF_SECTION "]\n");
	for (i = 0; i < CONF_NKEYS; i++) {
		k = &conf_keys[i];
		if (k->type == CONF_MAP)
			continue;
		conf_fmt(c, k, v, sizeof v);
		buf_printf(b, "\n# %s\n%s =%s%s\n", k->help, k->name,
		    *v != '\0' ? " " : "", v);
	}
	for (i = 0; i < CONF_NKEYS; i++) {
		k = &conf_keys[i];
		if (k->type != CONF_MAP)
			continue;
		m = (const struct conf_map *)((const char *)c + k->off);
		buf_printf(b, "\n# %s\n[%s]\n", k->help, k->name);
		for (e = 0; e < m->n; e++) {
			nl = strcspn(m->ent[e], "=");
			buf_printf(b, "%.*s = %s\n", (int)nl, m->ent[e],
			    m->ent[e] + nl + 1);
		}
	}
}

/* Write all of len bytes to fd. */
static int
conf_write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = io_write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Return the directory part of path, as a new string. */
static char *
conf_dirname(const char *path)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/*
 * Write the settings to path atomically: PATH.tmp is written, fsync'd and
 * renamed over PATH, then the directory is fsync'd, so PATH is at every
 * moment either the old file or the new one, and the new one survives a
 * crash once this returns 0. It blocks: call it off the event loop. Its
 * I/O goes through io.c, so that t/unit-crash.c can cut the power.
 *
 * A failure before the rename returns -1: PATH is the old file, whole. If
 * the directory fsync fails, the new file is already in place but may not
 * be durable (a crash may bring back either file): that returns
 * CONF_SAVE_RENAMED, so that the caller, which must not apply settings it
 * cannot vouch for, knows that PATH no longer holds the old ones.
 */
int
conf_save(const char *path, const struct conf *c, char **cause)
{
	struct buf	 b;
	char		*tmp, *dir, eb[128];
	const char	*what, *file;
	int		 fd, e;

	buf_init(&b);
	conf_render(c, &b);
	tmp = xasprintf("%s.tmp", path);
	file = tmp;

	fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		what = "open";
		goto fail;
	}
	if (conf_write_all(fd, b.data, b.len) != 0) {
		what = "write";
		goto fail;
	}
	if (io_fsync(fd) != 0) {
		what = "fsync";
		goto fail;
	}
	e = io_close(fd);
	fd = -1;
	if (e != 0) {
		what = "close";
		goto fail;
	}
	if (io_rename(tmp, path) != 0) {
		what = "rename";
		file = path;
		goto fail;
	}
	free(tmp);
	buf_free(&b);

	dir = conf_dirname(path);
	if (util_fsync_dir(dir) != 0) {
		e = errno;
		*cause = xasprintf("%s: fsync: %s", dir,
		    conf_strerror(e, eb, sizeof eb));
		free(dir);
		return CONF_SAVE_RENAMED;
	}
	free(dir);
	return 0;

fail:
	e = errno;
	if (fd != -1)
		io_close(fd);
	io_unlink(tmp);
	*cause = xasprintf("%s: %s: %s", file, what,
	    conf_strerror(e, eb, sizeof eb));
	free(tmp);
	buf_free(&b);
	return -1;
}

/*
 * Add s to b as a JSON string. s is valid UTF-8 without control
 * characters (conf_text_ok), so only '"' and '\\' need an escape; the
 * others get one all the same.
 */
static void
conf_json_str(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, *s);
		} else if ((unsigned char)*s < 0x20)
			buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

/* Add the value of key k to b as JSON: a map one entry a line. */
static void
conf_json_value(struct buf *b, const struct conf *c,
    const struct conf_key *k)
{
	const struct conf_map	*m;
	char			 v[64];
	size_t			 nl;
	unsigned		 e;

	switch (k->type) {
	case CONF_STR:
		conf_json_str(b, (const char *)c + k->off);
		break;
	case CONF_MAP:
		m = (const struct conf_map *)((const char *)c + k->off);
		buf_adds(b, m->n == 0 ? "{}" : "{\n");
		for (e = 0; e < m->n; e++) {
			nl = strcspn(m->ent[e], "=");
			buf_printf(b, "    \"%.*s\": ", (int)nl, m->ent[e]);
			conf_json_str(b, m->ent[e] + nl + 1);
			buf_adds(b, e + 1 < m->n ? ",\n" : "\n  }");
		}
		break;
	case CONF_WORD:
	case CONF_MODE:
		conf_fmt(c, k, v, sizeof v);
		buf_printf(b, "\"%s\"", v);
		break;
	default:
		conf_fmt(c, k, v, sizeof v);
		buf_adds(b, v);
		break;
	}
}

/*
 * Render the settings as config.json reads: a JSON object with two-space
 * indent, the keys in table order, and a newline at the end.
 */
char *
conf_to_json(const struct conf *c)
{
	struct buf	b;
	size_t		i;

	buf_init(&b);
	buf_adds(&b, "{\n");
	for (i = 0; i < CONF_NKEYS; i++) {
		buf_printf(&b, "  \"%s\": ", conf_keys[i].name);
		conf_json_value(&b, c, &conf_keys[i]);
		buf_adds(&b, i + 1 < CONF_NKEYS ? ",\n" : "\n");
	}
	buf_adds(&b, "}\n");
	return b.data;
}

/* Return non-zero if buf holds nothing but JSON whitespace. */
static int
conf_blank(const char *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (strchr(CONF_JSON_WS, buf[i]) == NULL || buf[i] == '\0')
			return 0;
	}
	return 1;
}

/*
 * Return non-zero if buf, which jansson refused with a syntax error at its
 * very end, may only have been cut inside a token: a number ("1.", "1e-",
 * "-") or an escape in a string ("\", "\u00"). jansson calls these invalid
 * rather than premature, so each is tried with a completion, and if one
 * leaves a premature end of input the prefix can still grow into a valid
 * document.
 */
static int
conf_json_truncated(const char *buf, size_t len)
{
	static const char	*tails[] = { "0", "n", "1111" };
	json_error_t		 err;
	json_t			*j;
	char			*p;
	size_t			 i, n;
	int			 found = 0;

	p = xmalloc(len + 8);
	memcpy(p, buf, len);
	for (i = 0; i < sizeof tails / sizeof tails[0] && !found; i++) {
		n = strlen(tails[i]);
		memcpy(p + len, tails[i], n);
		j = json_loadb(p, len + n, JSON_REJECT_DUPLICATES, &err);
		if (j != NULL)
			json_decref(j);
		else if (json_error_code(&err) ==
		    json_error_premature_end_of_input)
			found = 1;
	}
	free(p);
	return found;
}

/*
 * Set the text or map key k of c from the JSON value v: NULL, or why not
 * (malloc'd). A map is replaced as a whole.
 */
static char *
conf_json_put(struct conf *c, const struct conf_key *k, json_t *v)
{
	struct conf_map	*m;
	const char	*name;
	char		 n[CONF_CLEAN_MAX], *msg;
	json_t		*e;

	if (k->type == CONF_STR) {
		if (!json_is_string(v))
			return conf_range(k);
		return conf_str_put(c, k, json_string_value(v));
	}
	if (!json_is_object(v))
		return conf_range(k);
	m = (struct conf_map *)((char *)c + k->off);
	memset(m, 0, sizeof *m);
	json_object_foreach(v, name, e) {
		if (!json_is_string(e))
			return xasprintf("%s: '%s': must be a string", k->name,
			    util_printable(name, n, sizeof n));
		if ((msg = conf_map_put(c, k, name,
		    json_string_value(e))) != NULL)
			return msg;
	}
	return NULL;
}

/*
 * Decode a config.json document into *out, starting from base. On error
 * return -1 with *cause set, and set *incomplete if the input may be a
 * prefix of a valid document (blank, or cut short).
 */
static int
conf_json_decode(const char *buf, size_t len, const struct conf *base,
    struct conf *out, char **cause, int *incomplete)
{
	const struct conf_key	*k;
	struct conf		 c;
	json_error_t		 err;
	json_t			*j, *v;
	const char		*key, *nul;
	char			 n[CONF_CLEAN_MAX], *msg;
	size_t			 i;
	double			 d;

	*incomplete = 0;
	if (len > CONF_JSON_MAX) {
		*cause = xasprintf("config.json: larger than %d bytes",
		    CONF_JSON_MAX);
		return -1;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		/* No JSON text holds a NUL byte; jansson would stop at it. */
		*cause = xasprintf("config.json: NUL byte at offset %zu",
		    (size_t)(nul - buf));
		return -1;
	}
	if (conf_blank(buf, len)) {
		*incomplete = 1;
		*cause = xstrdup("config.json: empty; expected a JSON object");
		return -1;
	}
	for (i = 0; i < len && buf[i] != '\0' &&
	    strchr(CONF_JSON_WS, buf[i]) != NULL; i++)
		/* nothing */;
	if (i == len || buf[i] != '{') {
		*cause = xstrdup("config.json: not a JSON object");
		return -1;
	}

	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		if (json_error_code(&err) == json_error_premature_end_of_input)
			*incomplete = 1;
		else if (json_error_code(&err) == json_error_invalid_syntax &&
		    err.position >= 0 && (size_t)err.position == len)
			*incomplete = conf_json_truncated(buf, len);
		*cause = xasprintf("config.json: line %d, column %d: %s",
		    err.line, err.column, err.text);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*cause = xstrdup("config.json: not a JSON object");
		return -1;
	}

	c = *base;
	json_object_foreach(j, key, v) {
		if ((k = conf_find(key)) == NULL) {
			*cause = xasprintf("config.json: unknown key '%s'",
			    util_printable(key, n, sizeof n));
			json_decref(j);
			return -1;
		}
		if (k->type == CONF_STR || k->type == CONF_MAP) {
			if ((msg = conf_json_put(&c, k, v)) == NULL)
				continue;
			*cause = xasprintf("config.json: %s", msg);
			free(msg);
			json_decref(j);
			return -1;
		}
		if (k->type == CONF_INT && json_is_integer(v))
			d = (double)json_integer_value(v);
		else if (k->type == CONF_NUM && json_is_number(v))
			d = json_number_value(v);
		else if ((k->type == CONF_WORD || k->type == CONF_MODE) &&
		    json_is_string(v) &&
		    conf_parse_value(k, json_string_value(v), &d) == 0)
			;
		else
			d = NAN;
		if (!conf_valid(k, d)) {
			msg = conf_range(k);
			*cause = xasprintf("config.json: %s", msg);
			free(msg);
			json_decref(j);
			return -1;
		}
		conf_put(&c, k, d);
	}
	json_decref(j);
	if ((key = conf_check(&c)) != NULL) {
		*cause = xasprintf("config.json: %s", key);
		return -1;
	}
	*out = c;
	return 0;
}

/*
 * Parse a written config.json (len bytes, not NUL-terminated): keys left
 * out keep base's values. On error *out is untouched.
 */
int
conf_from_json(const char *buf, size_t len, const struct conf *base,
    struct conf *out, char **cause)
{
	int	incomplete;

	return conf_json_decode(buf, len, base, out, cause, &incomplete);
}

/*
 * Check a config.json write in progress: return 0 if buf is a valid
 * document or may still become one as more is written, -1 with *cause if it
 * is invalid whatever follows.
 */
int
conf_json_check(const char *buf, size_t len, const struct conf *base,
    char **cause)
{
	struct conf	c;
	int		incomplete;

	if (conf_json_decode(buf, len, base, &c, cause, &incomplete) == 0)
		return 0;
	if (incomplete) {
		free(*cause);
		*cause = NULL;
		return 0;
	}
	return -1;
}

/*
 * Parse s as a value of the setting called name, by the rules and range
 * of the INI file, for the user.filed.* attributes that override one
 * setting for one job (policy.c). Returns 0, or -1 with a malloc'd
 * *cause that gives the range, as for a bad value in the INI file.
 */
int
conf_key_parse(const char *name, const char *s, double *vp, char **cause)
{
	const struct conf_key	*k;

	if ((k = conf_find(name)) == NULL || k->type == CONF_WORD) {
		*cause = xasprintf("%s: not a numeric setting", name);
		return -1;
	}
	if (conf_parse_value(k, s, vp) != 0) {
		*cause = conf_range(k);
		return -1;
	}
	if (*vp == 0)
		*vp = 0;
	return 0;
}

/* Format v as the setting called name is written in the INI file. */
void
conf_key_fmt(const char *name, double v, char *out, size_t size)
{
	const struct conf_key	*k;

	if ((k = conf_find(name)) == NULL)
		fatalx("conf_key_fmt: no setting %s", name);
	conf_fmt_value(k, v, out, size);
}
