/*
 * log.c: log lines on stderr, "filed: message". filed runs in the
 * foreground and leaves timestamps and storage to its supervisor (systemd,
 * a shell redirect). Debug lines appear only with -d.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

static int	log_debug_on;

static void	log_vwrite(const char *, const char *, const char *, va_list);

/* Set up logging; debug is non-zero for -d. */
void
log_init(int debug)
{
	log_debug_on = debug;
}

/* Return non-zero if debug lines are wanted. */
int
log_debugging(void)
{
	return log_debug_on;
}

/* Write one line: prefix, message, and an optional error string. */
static void
log_vwrite(const char *prefix, const char *err, const char *fmt, va_list ap)
{
	char	line[4096];

	vsnprintf(line, sizeof line, fmt, ap);
	if (err != NULL)
		fprintf(stderr, "filed: %s%s: %s\n", prefix, line, err);
	else
		fprintf(stderr, "filed: %s%s\n", prefix, line);
	fflush(stderr);
}

/* Log a warning with the text of errno. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	 err[128];
	int	 saved = errno;

	snprintf(err, sizeof err, "%s", strerror(saved));
	va_start(ap, fmt);
	log_vwrite("", err, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("", NULL, fmt, ap);
	va_end(ap);
}

/* Log an informational line. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("", NULL, fmt, ap);
	va_end(ap);
}

/* Log a debug line, if -d was given. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vwrite("debug: ", NULL, fmt, ap);
	va_end(ap);
}

/* Log with the text of errno and exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("", strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Log and leave at once with status, for a state in which filed must not
 * do anything more, not even answer the requests it holds. _exit, not
 * exit: no exit handler runs, and libuv's would wait for the work on its
 * thread pool, which may hang on the very disk that failed.
 */
void
fatalx_now(int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("", NULL, fmt, ap);
	va_end(ap);
	_exit(status);
}
