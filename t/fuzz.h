/*
 * fuzz.h: what the libFuzzer targets share: a private directory for the
 * files a target writes, quiet logging, and the report of a broken
 * invariant. Each target includes it once.
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

static const char	*fuzz_name = "fuzz";
static char		*fuzz_dir;

/*
 * Report a broken invariant on file descriptor 2 (stdio's stderr may be
 * /dev/null, see fuzz_setup) and abort.
 */
__attribute__((noreturn, format(printf, 1, 2)))
static void
fuzz_fail(const char *fmt, ...)
{
	va_list	ap;

	dprintf(2, "%s: invariant broken: ", fuzz_name);
	va_start(ap, fmt);
	vdprintf(2, fmt, ap);
	va_end(ap);
	dprintf(2, "\n");
	abort();
}

/*
 * Make a directory for this process, under FUZZ_TMPDIR, /dev/shm (so that
 * fsyncs cost nothing) or TMPDIR. filed's log lines go to stdio's stderr,
 * which is pointed at /dev/null unless FUZZ_VERBOSE is set (which turns on
 * debug lines too): the sanitizers and libFuzzer write to descriptor 2 and
 * are still heard.
 */
static void
fuzz_setup(const char *name)
{
	const char	*base;
	FILE		*null;

	fuzz_name = name;
	log_init(getenv("FUZZ_VERBOSE") != NULL);
	if (getenv("FUZZ_VERBOSE") == NULL &&
	    (null = fopen("/dev/null", "w")) != NULL)
		stderr = null;

	if ((base = getenv("FUZZ_TMPDIR")) == NULL) {
		if (access("/dev/shm", W_OK) == 0)
			base = "/dev/shm";
		else if ((base = getenv("TMPDIR")) == NULL)
			base = "/tmp";
	}
	fuzz_dir = xasprintf("%s/filed-%s.XXXXXX", base, name);
	if (mkdtemp(fuzz_dir) == NULL)
		fuzz_fail("mkdtemp %s: %s", fuzz_dir, strerror(errno));
}

#endif /* FUZZ_H */
