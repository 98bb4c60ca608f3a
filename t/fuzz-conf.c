/*
 * fuzz-conf.c: libFuzzer target for the settings parsers (conf.c): the
 * config.json codec and the INI file.
 *
 * - The input, in a malloc'd buffer of exactly its size with no NUL after
 *   it, goes through conf_from_json and conf_json_check. Settings that parse
 *   are written with conf_to_json and must parse back to the identical
 *   struct; conf_json_check must accept what conf_from_json accepts, and
 *   every prefix of it (a write in progress that will become valid).
 * - The input, written to a file, goes through conf_load. Settings that
 *   load are saved with conf_save and must load back identical, and must
 *   survive a trip through config.json too.
 *
 * A broken invariant prints what differed and aborts, which libFuzzer
 * reports as a crash with the input saved.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"
#include "fuzz.h"

#define FUZZ_PREFIXES	64		/* prefixes checked of a long input */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 fuzz_cleanup(void);
static void	 fuzz_same(const char *, const struct conf *,
		     const struct conf *);
static void	 fuzz_json_trip(const struct conf *, const char *);
static void	 fuzz_json(const uint8_t *, size_t);
static void	 fuzz_ini(const uint8_t *, size_t);

static char	*fuzz_ini_path;		/* DIR/filed.ini, the input */
static char	*fuzz_save_path;	/* DIR/saved.ini, conf_save's */
static struct conf fuzz_base;		/* the defaults */

/* Remove the per-process directory. */
static void
fuzz_cleanup(void)
{
	char	*tmp;

	unlink(fuzz_ini_path);
	unlink(fuzz_save_path);
	tmp = xasprintf("%s.tmp", fuzz_save_path);
	unlink(tmp);
	free(tmp);
	rmdir(fuzz_dir);
}

/* Set up the private directory (fuzz.h) and the paths in it. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup("fuzz-conf");
	fuzz_ini_path = xasprintf("%s/filed.ini", fuzz_dir);
	fuzz_save_path = xasprintf("%s/saved.ini", fuzz_dir);
	atexit(fuzz_cleanup);

	memset(&fuzz_base, 0, sizeof fuzz_base);
	conf_defaults(&fuzz_base);
	return 0;
}

/* Abort if two settings differ in any byte. */
static void
fuzz_same(const char *what, const struct conf *a, const struct conf *b)
{
	char	*ja, *jb;

	if (memcmp(a, b, sizeof *a) == 0)
		return;
	ja = conf_to_json(a);
	jb = conf_to_json(b);
	fuzz_fail("%s:\n--- first\n%s--- then\n%s", what, ja, jb);
}

/* c, written as config.json, must read back identical. */
static void
fuzz_json_trip(const struct conf *c, const char *what)
{
	struct conf	 back;
	char		*json, *cause = NULL;

	json = conf_to_json(c);
	memset(&back, 0, sizeof back);
	if (conf_from_json(json, strlen(json), &fuzz_base, &back,
	    &cause) != 0)
		fuzz_fail("%s: conf_to_json output refused: %s\n%s", what,
		    cause, json);
	if (conf_json_check(json, strlen(json), &fuzz_base, &cause) != 0)
		fuzz_fail("%s: conf_to_json output fails the check: %s\n%s",
		    what, cause, json);
	fuzz_same(what, c, &back);
	free(json);
}

/* The input as a config.json write. */
static void
fuzz_json(const uint8_t *data, size_t size)
{
	struct conf	 c;
	char		*p, *cause = NULL, *cause2 = NULL;
	size_t		 n, step;
	int		 ok, checked;

	p = xmalloc(size > 0 ? size : 1);
	memcpy(p, data, size);

	memset(&c, 0, sizeof c);
	ok = conf_from_json(p, size, &fuzz_base, &c, &cause) == 0;
	if (!ok) {
		if (cause == NULL)
			fuzz_fail("conf_from_json failed without a cause");
		free(cause);
		cause = NULL;
	}
	checked = conf_json_check(p, size, &fuzz_base, &cause2) == 0;
	if (!checked) {
		if (cause2 == NULL)
			fuzz_fail("conf_json_check failed without a cause");
		free(cause2);
		cause2 = NULL;
	}
	if (ok && !checked)
		fuzz_fail("conf_json_check refuses what conf_from_json takes");
	if (!ok) {
		free(p);
		return;
	}
	fuzz_json_trip(&c, "config.json written and read again");

	/* Every prefix of a valid document may still become one. */
	step = size / FUZZ_PREFIXES + 1;
	for (n = 0; n < size; n += step) {
		if (conf_json_check(p, n, &fuzz_base, &cause2) != 0)
			fuzz_fail("conf_json_check refuses the first %zu "
			    "bytes of a valid config.json: %s", n, cause2);
	}
	free(p);
}

/* The input as the INI file. */
static void
fuzz_ini(const uint8_t *data, size_t size)
{
	struct conf	 c, back;
	char		*cause = NULL;
	FILE		*f;

	if ((f = fopen(fuzz_ini_path, "w")) == NULL)
		fuzz_fail("%s: %s", fuzz_ini_path, strerror(errno));
	if ((size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		fuzz_fail("%s: write: %s", fuzz_ini_path, strerror(errno));

	memset(&c, 0, sizeof c);
	if (conf_load(fuzz_ini_path, &c, &cause) != 0) {
		if (cause == NULL)
			fuzz_fail("conf_load failed without a cause");
		free(cause);
		unlink(fuzz_ini_path);
		return;
	}
	if (conf_save(fuzz_save_path, &c, &cause) != 0)
		fuzz_fail("conf_save: %s", cause);
	memset(&back, 0, sizeof back);
	if (conf_load(fuzz_save_path, &back, &cause) != 0)
		fuzz_fail("the saved INI file is refused: %s", cause);
	fuzz_same("INI file saved and loaded again", &c, &back);
	fuzz_json_trip(&c, "INI settings through config.json");
	unlink(fuzz_ini_path);
	unlink(fuzz_save_path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_json(data, size);
	fuzz_ini(data, size);
	return 0;
}
