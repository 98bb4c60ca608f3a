/*
 * unit-conf.c: the settings codecs without a mount: defaults, the INI file
 * (load, create when missing, save and reload, every error with its line),
 * config.json in and out, and the early check of a config.json write.
 * Every JSON input is passed in a buffer of exactly its length, with no
 * NUL after it, so AddressSanitizer catches a read past the end.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"
#include "tap.h"

struct range_case {
	const char	*key;
	const char	*good[4];
	const char	*bad[4];
};

static const struct range_case range_cases[] = {
	{ "max_retries", { "0", "1000000", "3", NULL },
	    { "-1", "1000001", NULL } },
	{ "max_jobs", { "0", "1", "4096", NULL }, { "4097", "-1", NULL } },
	{ "backoff_base", { "0", "1e9", "1000000000", "0.5" },
	    { "-0.001", "1000000000.5", "1e10", NULL } },
	{ "backoff_mult", { "1", "1e6", "1000000", "1.5" },
	    { "0.999", "1000000.001", "0", NULL } },
	{ "timeout", { "0", "1e9", "1e-9", NULL },
	    { "-1e-9", "1000000001", NULL } },
	{ "kill_grace", { "0", "1e9", "2.5", NULL },
	    { "-1", "1.000001e9", NULL } },
	{ "max_job_size", { "1", "16777216", NULL },
	    { "0", "16777217", NULL } },
};
#define NRANGE	(sizeof range_cases / sizeof range_cases[0])

#define JOBS_MSG "config.json: max_jobs: must be an integer from 0 to 4096"

static char	*dir;

static const char *show(const char *);
static const char *range_msg(const char *);
static char	*path(const char *);
static void	 put_file(const char *, const char *);
static char	*get_file(const char *);
static int	 exists(const char *);
static int	 same(const struct conf *, const struct conf *);
static void	 sentinel(struct conf *);
static int	 load_text(const char *, struct conf *, char **);
static int	 from_json(const char *, const struct conf *, struct conf *,
		     char **);
static int	 check_json(const char *, size_t, const struct conf *,
		     char **);
static void	 test_defaults(void);
static void	 test_missing(void);
static void	 test_round_trip(void);
static void	 test_ini_ranges(void);
static void	 test_ini_errors(void);
static void	 test_ini_syntax(void);
static void	 test_save_errors(void);
static int	 failing_fsync(int);
static void	 test_save_fsync(void);
static void	 test_json_out(void);
static void	 test_json_in(void);
static void	 test_json_errors(void);
static void	 test_json_ranges(void);
static void	 test_json_check(void);
static void	 test_text_keys(void);

/*
 * workdir, umask and [env]: INI and JSON round trips, a map replaced as a
 * whole, each refusal with its cause, and the directory check.
 */
static void
test_text_keys(void)
{
	static const struct {
		const char	*doc;
		const char	*cause;
	} bad[] = {
		{ "{\"workdir\": \"rel\"}", "config.json: workdir: must be "
		    "an absolute path, or empty for the default" },
		{ "{\"workdir\": 1}", "config.json: workdir: must be a "
		    "string" },
		{ "{\"workdir\": \"/a\\tb\"}", "config.json: workdir: holds "
		    "a control character" },
		{ "{\"workdir\": \"/a #b\"}", "config.json: workdir: holds "
		    "\" #\", which starts a comment in the INI file" },
		{ "{\"env\": {\"FILED_RUN\": \"x\"}}", "config.json: env: "
		    "'FILED_RUN': filed sets it for each attempt" },
		{ "{\"env\": {\"a b\": \"x\"}}", "config.json: env: 'a b': "
		    "not a portable name (letters, digits and '_', not "
		    "starting with a digit)" },
		{ "{\"env\": {\"A\": \" x\"}}", "config.json: env: A: the "
		    "value is refused: it starts or ends with a blank" },
		{ "{\"env\": [\"A=1\"]}", "config.json: env: must be an "
		    "object of strings" },
		{ "{\"env\": {\"A\": null}}", "config.json: env: 'A': must "
		    "be a string" },
		{ "{\"umask\": 18}", "config.json: umask: must be octal "
		    "digits from 000 to 077 (a string in config.json)" },
		{ "{\"umask\": \"0100\"}", "config.json: umask: must be "
		    "octal digits from 000 to 077 (a string in config.json)" },
	};
	struct conf	 c, back, base;
	char		*p = path("text.ini"), *cause = NULL, *json, *want;
	char		*text, *tp = path("t.ini");
	size_t		 i;

	conf_defaults(&base);
	ok(from_json("{\"workdir\": \"/\", \"umask\": \"0027\", \"env\": "
	    "{\"Z\": \"a=b;c\\\"d\\\\\", \"A_1\": \"\u00e9t\u00e9\"}}",
	    &base, &c, &cause) == 0, "workdir, umask and env from JSON");
	is_str(c.workdir, "/", "workdir");
	is_int(c.umask, 027, "umask is octal");
	is_int(c.env.n, 2, "two variables");
	is_str(c.env.ent[0], "A_1=\xc3\xa9t\xc3\xa9", "in name order, UTF-8");
	is_str(c.env.ent[1], "Z=a=b;c\"d\\", "quotes and backslashes kept");
	json = conf_to_json(&c);
	ok(strstr(json, "  \"umask\": \"027\",\n") != NULL &&
	    strstr(json, "  \"env\": {\n    \"A_1\": \"\xc3\xa9t\xc3\xa9\",\n"
	    "    \"Z\": \"a=b;c\\\"d\\\\\"\n  }\n}\n") != NULL,
	    "rendered, the map one entry a line");
	memset(&back, 0, sizeof back);
	ok(from_json(json, &base, &back, &cause) == 0 &&
	    memcmp(&c, &back, sizeof c) == 0, "and read back identical");
	free(json);

	ok(conf_save(p, &c, &cause) == 0, "saved to INI");
	text = get_file(p);
	ok(text != NULL && strstr(text, "\nworkdir = /\n") != NULL &&
	    strstr(text, "\numask = 027\n") != NULL &&
	    strstr(text, "\n[env]\nA_1 = \xc3\xa9t\xc3\xa9\nZ = a=b;c\"d\\\n") !=
	    NULL, "as workdir, umask and an [env] section");
	free(text);
	memset(&back, 0, sizeof back);
	ok(conf_load(p, &back, &cause) == 0 && memcmp(&c, &back, sizeof c) ==
	    0, "which loads back identical");

	ok(from_json("{\"env\": {\"B\": \"1\"}}", &c, &back, &cause) == 0 &&
	    back.env.n == 1 && strcmp(back.env.ent[0], "B=1") == 0 &&
	    strcmp(back.workdir, "/") == 0, "a written env replaces the map");
	conf_defaults(&back);
	ok(conf_save(p, &back, &cause) == 0, "defaults saved");
	text = get_file(p);
	ok(text != NULL && strstr(text, "\nworkdir =\n") != NULL &&
	    strstr(text, "\n[env]\n") != NULL, "an empty workdir and [env]");
	free(text);
	ok(conf_load(p, &c, &cause) == 0 && memcmp(&c, &back, sizeof c) == 0,
	    "and load back as the defaults");
	unlink(p);

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		ok(from_json(bad[i].doc, &base, &c, &cause) == -1,
		    "refused: %s", show(bad[i].doc));
		is_str(cause, bad[i].cause, "with its cause");
		free(cause);
	}

	want = xasprintf("%s:3: env: A: set twice", tp);
	ok(load_text("[env]\nA = 1\nA = 2\n", &c, &cause) == -1,
	    "a variable set twice in [env]");
	is_str(cause, want, "cause names the line");
	free(cause);
	free(want);
	want = xasprintf("%s:2: env: 'FILED_JOB': filed sets it for each "
	    "attempt", tp);
	ok(load_text("[env]\nFILED_JOB = 1\n", &c, &cause) == -1,
	    "FILED_JOB in [env]");
	is_str(cause, want, "cause names the line");
	free(cause);
	free(want);
	want = xasprintf("%s:2: workdir: %s/nowhere: No such file or "
	    "directory", tp, dir);
	text = xasprintf("[queue]\nworkdir = %s/nowhere\n", dir);
	ok(load_text(text, &c, &cause) == -1, "a workdir that does not exist");
	is_str(cause, want, "cause names the line and the error");
	free(cause);
	free(want);
	free(text);

	conf_defaults(&c);
	back = c;
	snprintf(c.workdir, sizeof c.workdir, "%s/nowhere", dir);
	ok(conf_check_dirs(&c, &back, &cause) == -1,
	    "conf_check_dirs: a new workdir that does not exist");
	free(cause);
	back = c;
	ok(conf_check_dirs(&c, &back, &cause) == 0,
	    "an unchanged one is not checked again");
	text = realpath(dir, NULL);
	conf_set_mount(text);
	free(text);
	snprintf(c.workdir, sizeof c.workdir, "%s", dir);
	conf_defaults(&back);
	ok(conf_check_dirs(&c, &back, &cause) == -1 && cause != NULL &&
	    strstr(cause, "inside filed's own mount") != NULL,
	    "a workdir in the mount is refused");
	free(cause);
	conf_set_mount(NULL);
	free(p);
	free(tp);
}

/* Return s fit for a TAP line: escapes for control bytes, cut if long. */
static const char *
show(const char *s)
{
	static char	out[128];
	size_t		n = 0;

	for (; *s != '\0' && n < sizeof out - 8; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			n += (size_t)snprintf(out + n, sizeof out - n,
			    "\\x%02x", (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

/* Return the message for a bad value of key, as conf.c words it. */
static const char *
range_msg(const char *key)
{
	if (strcmp(key, "max_retries") == 0)
		return "max_retries: must be an integer from 0 to 1000000";
	if (strcmp(key, "max_jobs") == 0)
		return "max_jobs: must be an integer from 0 to 4096";
	if (strcmp(key, "backoff_base") == 0)
		return "backoff_base: must be a number from 0 to 1000000000";
	if (strcmp(key, "backoff_mult") == 0)
		return "backoff_mult: must be a number from 1 to 1000000";
	if (strcmp(key, "timeout") == 0)
		return "timeout: must be a number from 0 to 1000000000";
	if (strcmp(key, "kill_grace") == 0)
		return "kill_grace: must be a number from 0 to 1000000000";
	return "max_job_size: must be an integer from 1 to 16777216";
}

/* Return a new path for name in the test directory. */
static char *
path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* Write a file, or die. */
static void
put_file(const char *p, const char *text)
{
	FILE	*f;

	if ((f = fopen(p, "w")) == NULL)
		fatal("%s", p);
	fputs(text, f);
	if (fclose(f) != 0)
		fatal("%s", p);
}

/* Read a whole file into a new string, or return NULL. */
static char *
get_file(const char *p)
{
	struct buf	 b;
	char		 chunk[4096];
	size_t		 n;
	FILE		*f;

	if ((f = fopen(p, "r")) == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (b.data == NULL)
		buf_add(&b, "", 0);
	return b.data;
}

/* Return non-zero if a file exists. */
static int
exists(const char *p)
{
	struct stat	sb;

	return stat(p, &sb) == 0;
}

/* Return non-zero if two settings are the same, doubles compared exactly. */
static int
same(const struct conf *a, const struct conf *b)
{
	return a->max_retries == b->max_retries &&
	    a->max_jobs == b->max_jobs &&
	    a->backoff_base == b->backoff_base &&
	    a->backoff_mult == b->backoff_mult &&
	    a->timeout == b->timeout &&
	    a->kill_grace == b->kill_grace &&
	    a->max_job_size == b->max_job_size;
}

/* Fill settings with values no parse produces, to see them left alone. */
static void
sentinel(struct conf *c)
{
	c->max_retries = -7;
	c->max_jobs = -7;
	c->backoff_base = -7;
	c->backoff_mult = -7;
	c->timeout = -7;
	c->kill_grace = -7;
	c->max_job_size = -7;
}

/* Write text as t.ini and load it. */
static int
load_text(const char *text, struct conf *c, char **cause)
{
	char	*p = path("t.ini");
	int	 rv;

	put_file(p, text);
	*cause = NULL;
	rv = conf_load(p, c, cause);
	unlink(p);
	free(p);
	return rv;
}

/* Parse a JSON string, handed over without its NUL. */
static int
from_json(const char *s, const struct conf *base, struct conf *c,
    char **cause)
{
	size_t	 len = strlen(s);
	char	*p = xmalloc(len);
	int	 rv;

	memcpy(p, s, len);
	*cause = NULL;
	rv = conf_from_json(p, len, base, c, cause);
	free(p);
	return rv;
}

/* Check the first len bytes of s, handed over without a NUL. */
static int
check_json(const char *s, size_t len, const struct conf *base, char **cause)
{
	char	*p = xmalloc(len);
	int	 rv;

	memcpy(p, s, len);
	*cause = NULL;
	rv = conf_json_check(p, len, base, cause);
	free(p);
	return rv;
}

/* The defaults are the documented ones. */
static void
test_defaults(void)
{
	struct conf	c;
	long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 4096)
		ncpu = 4096;
	conf_defaults(&c);
	is_int(c.max_retries, 3, "default max_retries");
	is_int(c.max_jobs, ncpu, "default max_jobs is the number of CPUs");
	ok(c.backoff_base == 1, "default backoff_base");
	ok(c.backoff_mult == 2, "default backoff_mult");
	ok(c.timeout == 0, "default timeout");
	ok(c.kill_grace == 5, "default kill_grace");
	is_int(c.max_job_size, 65536, "default max_job_size");
}

/* A missing file is created with the defaults, and reads back the same. */
static void
test_missing(void)
{
	struct conf	 c, d, again;
	struct stat	 sb;
	char		*p = path("new.ini"), *tmp = path("new.ini.tmp");
	char		*cause = NULL, *text;

	conf_defaults(&d);
	sentinel(&c);
	ok(conf_load(p, &c, &cause) == 0, "load of a missing file works");
	ok(cause == NULL, "no cause");
	ok(same(&c, &d), "it gives the defaults");
	ok(stat(p, &sb) == 0, "the file was created");
	is_int(sb.st_mode & 07777, 0600, "with mode 0600");
	ok(!exists(tmp), "no .tmp left behind");

	sentinel(&again);
	ok(conf_load(p, &again, &cause) == 0, "the created file loads");
	ok(same(&again, &d), "and gives the defaults again");

	text = get_file(p);
	ok(text != NULL && strstr(text, "\n[queue]\n") != NULL,
	    "the file has a [queue] section");
	ok(text != NULL && strstr(text, "config.json") != NULL &&
	    strstr(text, "SIGHUP") != NULL,
	    "the header mentions config.json and SIGHUP");
	ok(text != NULL && strncmp(text, "# ", 2) == 0,
	    "the file starts with a comment");
	ok(text != NULL && strstr(text, "\nmax_retries = 3\n") != NULL &&
	    strstr(text, "\nmax_job_size = 65536\n") != NULL &&
	    strstr(text, "\nkill_grace = 5\n") != NULL,
	    "values written as key = value");
	ok(text != NULL && strstr(text, "default 3.\nmax_retries") != NULL,
	    "each key has a comment over it naming its default");
	free(text);

	unlink(p);
	free(p);
	free(tmp);
}

/* Saved values, awkward doubles included, load back identical. */
static void
test_round_trip(void)
{
	static const double awkward[][4] = {
		{ 0.1, 1e-9, 123456.789, 1e9 },
		{ 1.0 / 3, 2.0 / 3, 0.30000000000000004, 1e-300 },
		{ 1.0000000000000002, 999999.99999999988, 4.9e-324,
		    999999999.99999988 },
		{ 0, 1, 0, 0 },
	};
	struct conf	 c, back;
	char		*p = path("rt.ini"), *tmp = path("rt.ini.tmp");
	char		*cause = NULL, *text, *json;
	size_t		 i;

	for (i = 0; i < sizeof awkward / sizeof awkward[0]; i++) {
		conf_defaults(&c);
		c.max_retries = (long)i * 1000;
		c.max_jobs = 4096 - (long)i;
		c.max_job_size = 16777216 - (long)i;
		c.backoff_base = awkward[i][0];
		c.backoff_mult = awkward[i][1] < 1 ? 1 + awkward[i][1] :
		    awkward[i][1];
		c.timeout = awkward[i][2];
		c.kill_grace = awkward[i][3];

		cause = NULL;
		ok(conf_save(p, &c, &cause) == 0, "save set %zu", i);
		if (cause != NULL) {
			printf("# %s\n", cause);
			free(cause);
		}
		ok(!exists(tmp), "set %zu: no .tmp left behind", i);
		sentinel(&back);
		ok(conf_load(p, &back, &cause) == 0, "load set %zu", i);
		ok(same(&c, &back), "set %zu reads back identical", i);

		json = conf_to_json(&c);
		sentinel(&back);
		ok(from_json(json, &back, &back, &cause) == 0,
		    "set %zu: config.json parses", i);
		ok(same(&c, &back), "set %zu: config.json reads back identical",
		    i);
		free(json);
	}

	text = get_file(p);
	ok(text != NULL && strstr(text, "\nbackoff_base = 0\n") != NULL,
	    "zero written as 0");
	free(text);

	conf_defaults(&c);
	c.backoff_base = 0.1;
	c.timeout = 1e-9;
	c.backoff_mult = 123456.789;
	c.kill_grace = 1e9;
	ok(conf_save(p, &c, &cause) == 0, "save the brief's values");
	text = get_file(p);
	ok(text != NULL && strstr(text, "\nbackoff_base = 0.1\n") != NULL,
	    "0.1 is written short");
	ok(text != NULL && strstr(text, "\nbackoff_mult = 123456.789\n") !=
	    NULL, "123456.789 is written short");
	ok(text != NULL && strstr(text, "\ntimeout = 1e-09\n") != NULL,
	    "1e-9 is written short");
	ok(text != NULL && strstr(text, "\nkill_grace = 1000000000\n") !=
	    NULL, "1e9 is written as an integer");
	free(text);

	/* Saving over an existing file replaces it. */
	c.max_jobs = 7;
	ok(conf_save(p, &c, &cause) == 0, "save over an existing file");
	ok(conf_load(p, &back, &cause) == 0 && back.max_jobs == 7,
	    "the new value is read");
	ok(!exists(tmp), "no .tmp left behind");

	unlink(p);
	free(p);
	free(tmp);
}

/* Each key's range edges, valid and invalid, with the line in the cause. */
static void
test_ini_ranges(void)
{
	const struct range_case	*rc;
	struct conf		 c, d;
	char			*text, *cause, *want, *p = path("t.ini");
	size_t			 i, j;

	conf_defaults(&d);
	for (i = 0; i < NRANGE; i++) {
		rc = &range_cases[i];
		for (j = 0; j < 4 && rc->good[j] != NULL; j++) {
			text = xasprintf("[queue]\n%s = %s\n", rc->key,
			    rc->good[j]);
			sentinel(&c);
			ok(load_text(text, &c, &cause) == 0, "INI %s = %s is "
			    "valid", rc->key, rc->good[j]);
			if (cause != NULL) {
				printf("# %s\n", cause);
				free(cause);
			}
			ok(c.max_retries != -7 && c.kill_grace != -7,
			    "and sets the settings");
			free(text);
		}
		for (j = 0; j < 4 && rc->bad[j] != NULL; j++) {
			text = xasprintf("# a comment\n\n[queue]\n; another\n"
			    "%s = %s\n", rc->key, rc->bad[j]);
			want = xasprintf("%s:5: %s", p, range_msg(rc->key));
			sentinel(&c);
			ok(load_text(text, &c, &cause) == -1, "INI %s = %s is "
			    "refused", rc->key, rc->bad[j]);
			is_str(cause, want, "with file, line and range");
			ok(c.max_retries == -7 && c.timeout == -7,
			    "and the settings are untouched");
			free(cause);
			free(want);
			free(text);
		}
	}

	/* The values land in the right fields. */
	ok(load_text("[queue]\nmax_retries = 0\nmax_jobs = 4096\n"
	    "backoff_base = 0.25\nbackoff_mult=1\ntimeout= 1e9\n"
	    "kill_grace =0\nmax_job_size = 1\n", &c, &cause) == 0,
	    "all keys at their edges");
	ok(c.max_retries == 0 && c.max_jobs == 4096 &&
	    c.backoff_base == 0.25 && c.backoff_mult == 1 &&
	    c.timeout == 1e9 && c.kill_grace == 0 && c.max_job_size == 1,
	    "each value in its field");

	/* Keys left out keep the defaults. */
	ok(load_text("[queue]\nmax_jobs = 2\n", &c, &cause) == 0,
	    "a file with one key");
	d.max_jobs = 2;
	ok(same(&c, &d), "the other keys keep the defaults");
	free(p);
}

/* Unknown keys and sections, garbage values, and the cause for each. */
static void
test_ini_errors(void)
{
	static const char *garbage[] = {
		"3x", "", "nan", "inf", "-inf", "1e999", "0x10", "1.5e",
		"- 1", "1 2", "1,5", "1..5", "infinity", "0x1p3", "+", "e5",
	};
	static const char *int_garbage[] = {
		"1.5", "1e3", "3.0", "99999999999999999999", "0x10", "3 x",
	};
	struct conf	 c;
	char		*text, *cause, *want, *p = path("t.ini");
	size_t		 i;

	for (i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		text = xasprintf("[queue]\n\ntimeout = %s\n", garbage[i]);
		want = xasprintf("%s:3: %s", p, range_msg("timeout"));
		sentinel(&c);
		ok(load_text(text, &c, &cause) == -1, "timeout = '%s' is "
		    "refused", garbage[i]);
		is_str(cause, want, "with the line and the range");
		ok(c.timeout == -7, "settings untouched");
		free(cause);
		free(want);
		free(text);
	}
	for (i = 0; i < sizeof int_garbage / sizeof int_garbage[0]; i++) {
		text = xasprintf("[queue]\nmax_jobs = %s\n", int_garbage[i]);
		want = xasprintf("%s:2: %s", p, range_msg("max_jobs"));
		ok(load_text(text, &c, &cause) == -1, "max_jobs = '%s' is "
		    "refused", int_garbage[i]);
		is_str(cause, want, "with the line and the range");
		free(cause);
		free(want);
		free(text);
	}

	want = xasprintf("%s:3: unknown key 'foo' in [queue]", p);
	ok(load_text("[queue]\nmax_jobs = 2\nfoo = 1\n", &c, &cause) == -1,
	    "unknown key refused");
	is_str(cause, want, "cause names the key and line");
	free(cause);
	free(want);

	want = xasprintf("%s:2: unknown key 'Max_Jobs' in [queue]", p);
	ok(load_text("[queue]\nMax_Jobs = 2\n", &c, &cause) == -1,
	    "keys are case-sensitive");
	is_str(cause, want, "cause names the key and line");
	free(cause);
	free(want);

	want = xasprintf("%s:4: unknown section [runner]", p);
	ok(load_text("[queue]\nmax_jobs = 2\n\n[runner]\n", &c, &cause) ==
	    -1, "an unknown section, even empty, is refused");
	is_str(cause, want, "cause names the section and line");
	free(cause);
	free(want);

	want = xasprintf("%s:1: unknown section [Queue]", p);
	ok(load_text("[Queue]\nmax_jobs = 2\n", &c, &cause) == -1,
	    "section names are case-sensitive");
	is_str(cause, want, "cause names the section");
	free(cause);
	free(want);

	want = xasprintf("%s:2: key 'max_jobs' is outside a section; "
	    "expected [queue]", p);
	ok(load_text("# settings\nmax_jobs = 2\n[queue]\n", &c, &cause) == -1,
	    "a key outside a section is refused");
	is_str(cause, want, "cause names the key and line");
	free(cause);
	free(want);

	want = xasprintf("%s:3: max_jobs: set twice", p);
	ok(load_text("[queue]\nmax_jobs = 2\nmax_jobs = 3\n", &c, &cause) ==
	    -1, "a key set twice is refused");
	is_str(cause, want, "cause names the key and the second line");
	free(cause);
	free(want);

	want = xasprintf("%s:2: unknown key 'foo' in [queue]", p);
	ok(load_text("[queue]\nfoo = 1\nmax_jobs = 0\n", &c, &cause) == -1,
	    "two errors");
	is_str(cause, want, "the first one is reported");
	free(cause);
	free(want);

	free(p);
}

/* Syntax: comments, whitespace, inih's errors, long lines, odd files. */
static void
test_ini_syntax(void)
{
	struct conf	 c;
	char		*text, *cause, *want, *p = path("t.ini"), *long_line;
	struct buf	 b;
	int		 i;

	ok(load_text("; semicolon comment\n# hash comment\n\n   \n"
	    "[queue]\n  max_jobs   =   3  \n\tmax_retries = 9\n"
	    "timeout = 2.5 ; inline\nkill_grace = 1 # inline too\n"
	    "backoff_base : 0.5\n\n", &c, &cause) == 0,
	    "comments, blank lines, whitespace, ':' and inline comments");
	if (cause != NULL) {
		printf("# %s\n", cause);
		free(cause);
	}
	ok(c.max_jobs == 3 && c.max_retries == 9 && c.timeout == 2.5 &&
	    c.kill_grace == 1 && c.backoff_base == 0.5,
	    "their values are read; indented keys are keys");

	ok(load_text("[queue]\r\nmax_jobs = 5\r\n", &c, &cause) == 0 &&
	    c.max_jobs == 5, "CRLF line ends");
	ok(load_text("\xef\xbb\xbf[queue]\nmax_jobs = 6\n", &c, &cause) == 0 &&
	    c.max_jobs == 6, "a UTF-8 BOM");
	ok(load_text("[queue]\nmax_jobs = 7", &c, &cause) == 0 &&
	    c.max_jobs == 7, "no newline at the end");
	ok(load_text("", &c, &cause) == 0, "an empty file is the defaults");
	ok(load_text("[queue] ; the queue\n[queue]\nmax_jobs = 2\n", &c,
	    &cause) == 0 && c.max_jobs == 2,
	    "[queue] twice, and a comment after it");

	want = xasprintf("%s:2: syntax error", p);
	ok(load_text("[queue]\nmax_jobs\n", &c, &cause) == -1,
	    "a key without a value is refused");
	is_str(cause, want, "as a syntax error on its line");
	free(cause);
	free(want);

	want = xasprintf("%s:3: syntax error", p);
	ok(load_text("# x\n\n[queue\nmax_jobs = 1\n", &c, &cause) == -1,
	    "a section without ']' is refused");
	is_str(cause, want, "as a syntax error on its line");
	free(cause);
	free(want);

	want = xasprintf("%s:1: syntax error", p);
	ok(load_text("[queue] max_jobs = 1\n", &c, &cause) == -1,
	    "text after a section header is refused");
	is_str(cause, want, "as a syntax error on its line");
	free(cause);
	free(want);

	/* A continuation line would silently extend a value in inih. */
	want = xasprintf("%s:3: max_retries: set twice", p);
	ok(load_text("[queue]\nmax_retries = 1\n  max_retries = 2\n", &c,
	    &cause) == -1, "an indented key is a key, not a continuation");
	is_str(cause, want, "cause");
	free(cause);
	free(want);

	/* Lines longer than inih's buffer. */
	buf_init(&b);
	buf_adds(&b, "[queue]\n# ");
	for (i = 0; i < 500; i++)
		buf_addc(&b, 'x');
	buf_adds(&b, " max_jobs = 0\nmax_jobs = 9\n");
	ok(load_text(b.data, &c, &cause) == 0 && c.max_jobs == 9,
	    "a long comment line is fine, and its tail is not read as a key");
	if (cause != NULL) {
		printf("# %s\n", cause);
		free(cause);
	}
	buf_reset(&b);
	buf_adds(&b, "[queue]\nmax_jobs = 1 ");
	for (i = 0; i < 500; i++)
		buf_addc(&b, ' ');
	buf_adds(&b, "; x\nfoo = 1\n");
	long_line = xasprintf("%s:2: line too long", p);
	ok(load_text(b.data, &c, &cause) == -1, "a long key line is refused");
	ok(cause != NULL && strncmp(cause, long_line, strlen(long_line)) == 0,
	    "as too long, on its line");
	printf("# %s\n", cause != NULL ? cause : "(null)");
	free(cause);
	free(long_line);
	buf_free(&b);

	want = xasprintf("%s:2: NUL byte in line", p);
	put_file(p, "[queue]\n");
	{
		FILE	*f = fopen(p, "a");

		fwrite("max_jobs = 1\0\n", 1, 14, f);
		fclose(f);
	}
	cause = NULL;
	ok(conf_load(p, &c, &cause) == -1, "a NUL byte is refused");
	is_str(cause, want, "cause");
	free(cause);
	free(want);
	unlink(p);

	/* A file that cannot be read. */
	text = path("adir");
	mkdir(text, 0700);
	want = xasprintf("%s: read: Is a directory", text);
	sentinel(&c);
	cause = NULL;
	ok(conf_load(text, &c, &cause) == -1, "a directory cannot be loaded");
	is_str(cause, want, "cause");
	ok(c.max_jobs == -7, "settings untouched");
	free(cause);
	free(want);
	rmdir(text);
	free(text);

	text = path("nodir/x.ini");
	cause = NULL;
	ok(conf_load(text, &c, &cause) == -1,
	    "a missing file that cannot be created is an error");
	want = xasprintf("%s.tmp: open: No such file or directory", text);
	is_str(cause, want, "cause names the file");
	free(cause);
	free(want);
	free(text);

	free(p);
}

/* Save failures remove the temporary file and say what failed. */
static void
test_save_errors(void)
{
	struct conf	 c;
	char		*target = path("isdir"), *tmp = path("isdir.tmp");
	char		*cause = NULL, *want;

	conf_defaults(&c);
	mkdir(target, 0700);
	ok(conf_save(target, &c, &cause) == -1,
	    "save over a directory fails");
	want = xasprintf("%s: rename: Is a directory", target);
	is_str(cause, want, "cause names the file and the step");
	ok(!exists(tmp), "the .tmp is removed");
	free(cause);
	free(want);
	rmdir(target);
	free(target);
	free(tmp);

	/* No directory to put the temporary file in: open fails. */
	target = path("nodir/x.ini");
	want = xasprintf("%s.tmp: open: No such file or directory", target);
	cause = NULL;
	ok(conf_save(target, &c, &cause) == -1,
	    "save into a missing directory fails");
	is_str(cause, want, "cause names the file and the step");
	free(cause);
	free(want);
	free(target);
}

/* What failing_fsync fails: directories (1) or files (0). */
static int	fail_dirs;

/* An fsync that fails with EIO on a directory, or on a file. */
static int
failing_fsync(int fd)
{
	struct stat	sb;

	if (fstat(fd, &sb) == 0 && !S_ISDIR(sb.st_mode) == !fail_dirs) {
		errno = EIO;
		return -1;
	}
	return io_real_ops()->fsync(fd);
}

/*
 * A save that fails before its rename returns -1 and leaves the old file;
 * one whose directory fsync fails returns CONF_SAVE_RENAMED, the new file
 * in place.
 */
static void
test_save_fsync(void)
{
	struct io_ops	 ops = *io_real_ops();
	struct conf	 c, back;
	char		*p = path("sync.ini"), *tmp = path("sync.ini.tmp");
	char		*cause = NULL, *want, *old, *now;

	conf_defaults(&c);
	ok(conf_save(p, &c, &cause) == 0, "save the defaults");
	old = get_file(p);
	c.max_retries = 9;
	ops.fsync = failing_fsync;
	io_set_ops(&ops);

	fail_dirs = 0;
	is_int(conf_save(p, &c, &cause), -1,
	    "a failed fsync of the temporary file is -1");
	want = xasprintf("%s: fsync: Input/output error", tmp);
	is_str(cause, want, "cause names the temporary file");
	free(cause);
	free(want);
	now = get_file(p);
	is_str(now, old, "the old file is whole");
	free(now);
	ok(!exists(tmp), "the .tmp is removed");

	fail_dirs = 1;
	cause = NULL;
	is_int(conf_save(p, &c, &cause), CONF_SAVE_RENAMED,
	    "a failed fsync of the directory is CONF_SAVE_RENAMED");
	want = xasprintf("%s: fsync: Input/output error", dir);
	is_str(cause, want, "cause names the directory");
	free(cause);
	free(want);
	io_set_ops(NULL);
	cause = NULL;
	ok(conf_load(p, &back, &cause) == 0 && back.max_retries == 9,
	    "the new file is in place");
	free(cause);
	ok(!exists(tmp), "no .tmp is left");

	unlink(p);
	free(old);
	free(p);
	free(tmp);
}

/* config.json as rendered: exact text, and it parses back. */
static void
test_json_out(void)
{
	struct conf	 c, back;
	char		*json, *want, *cause;

	conf_defaults(&c);
	json = conf_to_json(&c);
	want = xasprintf("{\n  \"max_retries\": 3,\n  \"max_jobs\": %lld,\n"
	    "  \"backoff_base\": 1,\n  \"backoff_mult\": 2,\n"
	    "  \"timeout\": 0,\n  \"kill_grace\": 5,\n"
	    "  \"max_job_size\": 65536,\n  \"run_as\": \"filed\",\n"
	    "  \"allow_root\": 0,\n  \"max_jobs_total\": 100000,\n"
	    "  \"workdir\": \"\",\n  \"umask\": \"022\",\n"
	    "  \"max_log_size\": 0,\n  \"nice\": 0,\n"
	    "  \"shell\": \"/bin/sh\",\n"
	    "  \"keep_complete\": 0,\n  \"keep_failed\": 0,\n"
	    "  \"max_logs_total\": 0,\n  \"env\": {}\n}\n",
	    (long long)c.max_jobs);
	is_str(json, want, "defaults as JSON");
	free(json);
	free(want);

	c.backoff_base = 0.1;
	c.backoff_mult = 123456.789;
	c.timeout = 1e-9;
	c.kill_grace = 1e9;
	json = conf_to_json(&c);
	ok(strstr(json, "\"backoff_base\": 0.1,\n") != NULL,
	    "0.1 prints as 0.1");
	ok(strstr(json, "\"backoff_mult\": 123456.789,\n") != NULL,
	    "123456.789 prints short");
	ok(strstr(json, "\"timeout\": 1e-09,\n") != NULL, "1e-9 prints short");
	ok(strstr(json, "\"kill_grace\": 1000000000,\n") != NULL,
	    "1e9 prints as an integer");
	ok(json[strlen(json) - 1] == '\n', "ends with a newline");
	conf_defaults(&back);
	ok(from_json(json, &back, &back, &cause) == 0 && same(&c, &back),
	    "parses back equal");
	free(json);

	c.backoff_mult = 1.0000000000000002;
	c.timeout = 1.0 / 3;
	json = conf_to_json(&c);
	ok(from_json(json, &back, &back, &cause) == 0 && same(&c, &back),
	    "17-digit values parse back equal");
	free(json);
}

/* Valid config.json writes: subsets keep base's values. */
static void
test_json_in(void)
{
	struct conf	 base, c, want;
	char		*cause;

	conf_defaults(&base);
	base.max_jobs = 3;
	base.timeout = 7.5;

	sentinel(&c);
	ok(from_json("{\"max_retries\": 5}", &base, &c, &cause) == 0,
	    "one key");
	want = base;
	want.max_retries = 5;
	ok(same(&c, &want), "the others keep base's values");

	ok(from_json("{}", &base, &c, &cause) == 0 && same(&c, &base),
	    "an empty object changes nothing");
	ok(from_json(" \n\t{ }\r\n ", &base, &c, &cause) == 0 &&
	    same(&c, &base), "whitespace around it is fine");

	ok(from_json("{\"timeout\": 5, \"backoff_base\": 0.5, "
	    "\"backoff_mult\": 1e0, \"kill_grace\": -0.0}", &base, &c,
	    &cause) == 0, "numbers as integers, reals, exponents, -0");
	ok(c.timeout == 5 && c.backoff_base == 0.5 && c.backoff_mult == 1 &&
	    c.kill_grace == 0 && c.max_jobs == 3, "their values");

	ok(from_json("{\"max\\u005fjobs\": 9}", &base, &c, &cause) == 0 &&
	    c.max_jobs == 9, "escapes in keys");

	/* Not NUL-terminated: the bytes after len are not read. */
	{
		const char	*s = "{\"max_jobs\": 2}garbage";

		ok(conf_from_json(s, 15, &base, &c, &cause) == 0 &&
		    c.max_jobs == 2, "only len bytes are parsed");
	}
}

/* Invalid config.json writes, each with its cause. */
static void
test_json_errors(void)
{
	static const struct {
		const char	*doc;
		const char	*cause;	/* exact, or a prefix ending in '*' */
	} cases[] = {
		{ "{\"foo\": 1}", "config.json: unknown key 'foo'" },
		{ "{\"max_jobs\": 2, \"foo\": 1}",
		    "config.json: unknown key 'foo'" },
		{ "{\"a\\nb\": 1}", "config.json: unknown key 'a?b'" },
		{ "{\"max_jobs\": \"4\"}",
		    JOBS_MSG },
		{ "{\"max_jobs\": true}",
		    JOBS_MSG },
		{ "{\"max_jobs\": null}",
		    JOBS_MSG },
		{ "{\"max_jobs\": 4.0}",
		    JOBS_MSG },
		{ "{\"max_jobs\": 4e0}",
		    JOBS_MSG },
		{ "{\"max_jobs\": [4]}",
		    JOBS_MSG },
		{ "{\"max_jobs\": {}}",
		    JOBS_MSG },
		{ "{\"timeout\": \"5\"}",
		    "config.json: timeout: must be a number from 0 to "
		    "1000000000" },
		{ "{\"timeout\": false}",
		    "config.json: timeout: must be a number from 0 to "
		    "1000000000" },
		{ "{\"timeout\": null}",
		    "config.json: timeout: must be a number from 0 to "
		    "1000000000" },
		{ "{\"timeout\": [1]}",
		    "config.json: timeout: must be a number from 0 to "
		    "1000000000" },
		{ "{\"max_jobs\": 1, \"max_jobs\": 2}",
		    "config.json: line 1, column *" },
		{ "{\"max_jobs\": 1} x", "config.json: line 1, column *" },
		{ "{\"max_jobs\": 1}}", "config.json: line 1, column *" },
		{ "{\"max_jobs\": 1} {}", "config.json: line 1, column *" },
		{ "{\"max_jobs\": 1", "config.json: line 1, column *" },
		{ "{\"timeout\": 1e999}", "config.json: line 1, column *" },
		{ "{\"timeout\": NaN}", "config.json: line 1, column *" },
		{ "{\"timeout\": 01}", "config.json: line 1, column *" },
		{ "{'max_jobs': 1}", "config.json: line 1, column *" },
		{ "{\"max_jobs\": 99999999999999999999}",
		    "config.json: line 1, column *" },
		{ "5", "config.json: not a JSON object" },
		{ "[]", "config.json: not a JSON object" },
		{ "\"max_jobs\"", "config.json: not a JSON object" },
		{ "null", "config.json: not a JSON object" },
		{ "", "config.json: empty; expected a JSON object" },
		{ " \n ", "config.json: empty; expected a JSON object" },
	};
	struct conf	 base, c;
	char		*cause, *big;
	size_t		 i, n;

	conf_defaults(&base);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sentinel(&c);
		ok(from_json(cases[i].doc, &base, &c, &cause) == -1,
		    "refused: %s", show(cases[i].doc));
		n = strlen(cases[i].cause);
		if (cases[i].cause[n - 1] == '*')
			ok(cause != NULL && strncmp(cause, cases[i].cause,
			    n - 1) == 0, "cause: %s",
			    cause ? cause : "(null)");
		else
			is_str(cause, cases[i].cause, "cause");
		ok(c.max_jobs == -7, "settings untouched");
		free(cause);
	}

	/* 64 KiB is the limit: a valid document padded to it. */
	big = xmalloc(CONF_JSON_MAX + 2);
	memset(big, ' ', CONF_JSON_MAX + 1);
	memcpy(big, "{\"max_jobs\": 2}", 15);
	big[CONF_JSON_MAX] = '\0';
	ok(from_json(big, &base, &c, &cause) == 0 && c.max_jobs == 2,
	    "exactly 64 KiB is fine");
	big[CONF_JSON_MAX] = ' ';
	big[CONF_JSON_MAX + 1] = '\0';
	ok(from_json(big, &base, &c, &cause) == -1, "64 KiB + 1 is refused");
	is_str(cause, "config.json: larger than 65536 bytes", "cause");
	free(cause);
	ok(check_json(big, CONF_JSON_MAX + 1, &base, &cause) == -1,
	    "the check refuses it too");
	is_str(cause, "config.json: larger than 65536 bytes", "cause");
	free(cause);
	free(big);
}

/* Each key's range edges in JSON. */
static void
test_json_ranges(void)
{
	const struct range_case	*rc;
	struct conf		 base, c;
	char			*doc, *cause, *want;
	size_t			 i, j;
	int			 isint;

	conf_defaults(&base);
	for (i = 0; i < NRANGE; i++) {
		rc = &range_cases[i];
		isint = strstr(range_msg(rc->key), "integer") != NULL;
		for (j = 0; j < 4 && rc->good[j] != NULL; j++) {
			if (isint && strpbrk(rc->good[j], ".e") != NULL)
				continue;
			doc = xasprintf("{\"%s\": %s}", rc->key, rc->good[j]);
			ok(from_json(doc, &base, &c, &cause) == 0,
			    "JSON %s is valid", doc);
			if (cause != NULL) {
				printf("# %s\n", cause);
				free(cause);
			}
			ok(check_json(doc, strlen(doc), &base, &cause) == 0,
			    "and passes the check");
			free(doc);
		}
		for (j = 0; j < 4 && rc->bad[j] != NULL; j++) {
			doc = xasprintf("{\"%s\": %s}", rc->key, rc->bad[j]);
			want = xasprintf("config.json: %s", range_msg(rc->key));
			ok(from_json(doc, &base, &c, &cause) == -1,
			    "JSON %s is refused", doc);
			is_str(cause, want, "with the range");
			free(cause);
			ok(check_json(doc, strlen(doc), &base, &cause) == -1,
			    "and fails the check");
			is_str(cause, want, "with the same cause");
			free(cause);
			free(want);
			free(doc);
		}
	}
}

/* The early check: every prefix of a valid document passes. */
static void
test_json_check(void)
{
	static const char *valid[] = {
		"{\"max_jobs\": 4}",
		"  {\n  \"max\\u005fjobs\" : 12 , \"timeout\":-0.0,\n"
		"\"backoff_base\": 1.5e-3, \"kill_grace\": 1E+2,"
		" \"backoff_mult\": 2.25E-0 ,\"max_retries\":0}\n\n",
		"{\"backoff_mult\":1e6,\"max_job_size\":1\t}",
		"{}",
	};
	static const char *invalid[] = {
		"{\"foo\": 1}", "{\"max_jobs\": -1}", "{\"max_jobs\": 1} x",
		"{\"max_jobs\": 1}}", "{\"max_jobs\": 1.5}", "[", "x", "5",
		"{\"a\": @", "{\"max_jobs\": 1 x", "{\"max_jobs\" 1",
		"{\"max_jobs\": 1,}", "{,", "{\"max_jobs\": 1e999}",
		"{\"max_jobs\": --1", "{\"timeout\": 1.e",
		"{\"max_jobs\": 1, \"max_jobs\": 1",
		"{\"x\\q", "\xef\xbb\xbf{}",
	};
	static const char *strval =
	    "{\"backoff_mult\":1e6,\"max_job_size\":\"\\u0031\"}";
	struct conf	 base, c;
	char		*json, *cause;
	size_t		 i, n, len;
	int		 bad;

	conf_defaults(&base);
	json = conf_to_json(&base);
	for (i = 0; i <= sizeof valid / sizeof valid[0]; i++) {
		const char *doc = i < sizeof valid / sizeof valid[0] ?
		    valid[i] : json;

		len = strlen(doc);
		bad = 0;
		for (n = 0; n <= len; n++) {
			if (check_json(doc, n, &base, &cause) != 0) {
				if (bad++ == 0)
					printf("# prefix %zu of doc %zu: %s\n",
					    n, i, cause);
				free(cause);
			}
		}
		ok(bad == 0, "all %zu prefixes of document %zu pass", len + 1,
		    i);
	}
	free(json);

	/*
	 * A string value: every proper prefix may still become valid (the
	 * check looks no further), but the complete document fails.
	 */
	len = strlen(strval);
	bad = 0;
	for (n = 0; n < len; n++) {
		if (check_json(strval, n, &base, &cause) != 0) {
			bad++;
			free(cause);
		}
	}
	ok(bad == 0, "proper prefixes of a document with a string value pass");
	ok(check_json(strval, len, &base, &cause) == -1,
	    "the complete document fails");
	is_str(cause, "config.json: max_job_size: must be an integer from 1 "
	    "to 16777216", "cause");
	free(cause);
	ok(from_json(valid[1], &base, &c, &cause) == 0 && c.max_jobs == 12 &&
	    c.kill_grace == 100 && c.backoff_mult == 2.25, "the second parses");

	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		ok(check_json(invalid[i], strlen(invalid[i]), &base, &cause) ==
		    -1, "check refuses: %s", show(invalid[i]));
		ok(cause != NULL && strncmp(cause, "config.json: ", 13) == 0,
		    "with a cause: %s", cause ? cause : "(null)");
		free(cause);
	}
	ok(check_json("", 0, &base, &cause) == 0 && cause == NULL,
	    "an empty write is incomplete");
	ok(check_json(" \n", 2, &base, &cause) == 0 && cause == NULL,
	    "whitespace is incomplete");
}

/* run_as, allow_root and max_jobs_total: words, flags, and the root rule. */
static void
test_access_keys(void)
{
	struct conf	 base, c;
	char		*cause, *json;

	conf_defaults(&base);
	ok(base.run_as == RUN_AS_FILED && base.allow_root == 0 &&
	    base.max_jobs_total == 100000, "access defaults");
	json = conf_to_json(&base);
	ok(strstr(json, "\"run_as\": \"filed\"") != NULL,
	    "run_as is a JSON string");
	free(json);
	ok(from_json("{\"run_as\": \"nobody\"}", &base, &c, &cause) == -1 &&
	    strstr(cause, "run_as: must be filed or submitter") != NULL,
	    "an unknown run_as word is refused");
	free(cause);
	ok(from_json("{\"run_as\": 1}", &base, &c, &cause) == -1,
	    "run_as is not a number");
	free(cause);
	ok(from_json("{\"allow_root\": 2}", &base, &c, &cause) == -1,
	    "allow_root is 0 or 1");
	free(cause);
	ok(from_json("{\"max_jobs_total\": 0}", &base, &c, &cause) == -1,
	    "max_jobs_total is at least 1");
	free(cause);
	ok(conf_json_check("{\"max_jobs\": 8\0, \"timeout\": 0.", 30, &base,
	    &cause) == -1 && strstr(cause, "NUL byte at offset 14") != NULL,
	    "a NUL byte makes any config.json invalid");
	free(cause);
	if (geteuid() == 0) {
		ok(from_json("{\"run_as\": \"submitter\", \"allow_root\": 1}",
		    &base, &c, &cause) == 0 && c.run_as == RUN_AS_SUBMITTER &&
		    c.allow_root == 1, "root may run jobs as their submitter");
		ok(load_text("[queue]\nrun_as = submitter\n", &c, &cause) ==
		    0 && c.run_as == RUN_AS_SUBMITTER, "run_as in the INI file");
		json = conf_to_json(&c);
		ok(strstr(json, "\"run_as\": \"submitter\"") != NULL,
		    "and in config.json");
		free(json);
	} else {
		ok(from_json("{\"run_as\": \"submitter\"}", &base, &c,
		    &cause) == -1 && strstr(cause, "needs filed to run as "
		    "root") != NULL, "submitter needs root (JSON)");
		free(cause);
		ok(load_text("[queue]\n\nrun_as = submitter\n", &c,
		    &cause) == -1 && strstr(cause, "t.ini:3: run_as: "
		    "submitter needs filed to run as root") != NULL,
		    "submitter needs root (INI, with its line)");
		free(cause);
		ok(1, "skip: running as root");
	}
}

/* keep_complete, keep_failed, max_logs_total: defaults, ranges, INI. */
static void
test_retain_keys(void)
{
	struct conf	 base, c;
	char		*cause, *json;

	conf_defaults(&base);
	ok(base.keep_complete == 0 && base.keep_failed == 0 &&
	    base.max_logs_total == 0, "retention defaults: off");
	ok(from_json("{\"keep_complete\": 0.5, \"keep_failed\": 1e9, "
	    "\"max_logs_total\": 100000000000000}", &base, &c, &cause) == 0 &&
	    c.keep_complete == 0.5 && c.keep_failed == 1e9 &&
	    c.max_logs_total == 100000000000000L, "their edges are taken");
	json = conf_to_json(&c);
	ok(strstr(json, "\"max_logs_total\": 100000000000000,\n") != NULL,
	    "max_logs_total prints as an integer");
	free(json);
	ok(from_json("{\"keep_complete\": -0.001}", &base, &c, &cause) ==
	    -1 && strstr(cause, "keep_complete: must be a number from 0 to "
	    "1000000000") != NULL, "keep_complete is not negative");
	free(cause);
	ok(from_json("{\"keep_failed\": 1000000001}", &base, &c, &cause) ==
	    -1, "keep_failed is at most 1e9");
	free(cause);
	ok(from_json("{\"max_logs_total\": 1.5}", &base, &c, &cause) == -1 &&
	    strstr(cause, "max_logs_total: must be an integer from 0 to "
	    "100000000000000") != NULL, "max_logs_total is an integer");
	free(cause);
	ok(from_json("{\"max_logs_total\": 100000000000001}", &base, &c,
	    &cause) == -1, "max_logs_total is at most 1e14");
	free(cause);
	ok(load_text("[queue]\nkeep_complete = 604800\nkeep_failed = 0.25\n"
	    "max_logs_total = 1073741824\n", &c, &cause) == 0 &&
	    c.keep_complete == 604800 && c.keep_failed == 0.25 &&
	    c.max_logs_total == 1073741824L, "the three in the INI file");
	ok(load_text("[queue]\n\nmax_logs_total = -1\n", &c, &cause) == -1 &&
	    strstr(cause, "t.ini:3: ") != NULL &&
	    strstr(cause, "max_logs_total") != NULL,
	    "a bad one names its line");
	free(cause);
}

int
main(void)
{
	char	tmpl[] = "/tmp/unit-conf.XXXXXX";
	DIR	*d;
	struct dirent *de;
	int	 leftover = 0;

	if ((dir = mkdtemp(tmpl)) == NULL)
		fatal("mkdtemp");

	test_defaults();
	test_missing();
	test_round_trip();
	test_ini_ranges();
	test_ini_errors();
	test_ini_syntax();
	test_save_errors();
	test_save_fsync();
	test_json_out();
	test_json_in();
	test_json_errors();
	test_json_ranges();
	test_json_check();
	test_access_keys();
	test_text_keys();
	test_retain_keys();

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0) {
				printf("# left over: %s\n", de->d_name);
				leftover++;
			}
		}
		closedir(d);
	}
	ok(leftover == 0, "nothing is left in the test directory");
	rmdir(dir);
	return tap_done();
}
