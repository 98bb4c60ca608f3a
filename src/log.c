/*
 * log.c: log lines on stderr, "filed: message". filed runs in the
 * foreground and leaves timestamps and storage to its supervisor (systemd,
 * a shell redirect). Debug lines appear only with -d.
 *
 * A line identical to the one printed just before it is not printed
 * again. A job that cannot start for want of a resource (no memory, no
 * descriptor, no interpreter) fails at once and, with backoff_base 0, is
 * retried at once: each attempt logged the same line, tens of thousands
 * of them, burying the lines around them and filling the supervisor's
 * disk. So, as syslogd does, a repeat within LOG_REPEAT_NS of the line's
 * printing is only counted; the next different line, or the same line
 * after the window, first prints "filed: last message repeated N times"
 * (the line itself when N is 1). The clock is read only when a line is
 * logged, never by a timer: an idle filed makes no system call. A count
 * still held at exit is printed then (atexit). Debug lines are never held
 * back, nor are fatal ones; either first prints the count held, so that
 * "last message" is always the line above it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

#define LOG_LINE_MAX	4096
#define LOG_REPEAT_NS	(10 * (int64_t)1000000000)

static struct {
	int		 debug;
	int		 atexit;	/* log_flush is registered */
	int64_t		 window;	/* ns a repeat is held back */
	char		 last[LOG_LINE_MAX + 256];	/* the line printed */
	size_t		 lastlen;	/* 0: none to compare with */
	int64_t		 lastat;	/* when, CLOCK_MONOTONIC ns */
	unsigned long	 repeats;	/* repeats of it not printed */
} lg = { .window = LOG_REPEAT_NS };

enum log_kind {
	LOG_HELD,			/* a repeat is counted, not printed */
	LOG_ALWAYS			/* debug and fatal lines */
};

static int64_t	log_clock(void);
static void	log_vwrite(enum log_kind, const char *, const char *,
		    const char *, va_list);

/* Set up logging; debug is non-zero for -d. */
void
log_init(int debug)
{
	lg.debug = debug;
	if (!lg.atexit) {
		atexit(log_flush);
		lg.atexit = 1;
	}
}

/* Return non-zero if debug lines are wanted. */
int
log_debugging(void)
{
	return lg.debug;
}

/*
 * Set how long, in ns, a repeat of the last line is held back (10 s
 * unless a test sets another).
 */
void
log_set_repeat_window(int64_t ns)
{
	lg.window = ns;
}

/* Return the monotonic clock in nanoseconds. */
static int64_t
log_clock(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Print the count of repeats held back, if any, and start afresh: the
 * next line is printed whatever it is.
 */
void
log_flush(void)
{
	if (lg.repeats == 1)
		fwrite(lg.last, 1, lg.lastlen, stderr);
	else if (lg.repeats > 1)
		fprintf(stderr, "filed: last message repeated %lu times\n",
		    lg.repeats);
	if (lg.repeats != 0)
		fflush(stderr);
	lg.repeats = 0;
	lg.lastlen = 0;
}

/*
 * Write one line: prefix, message, and an optional error string. A line
 * of kind LOG_HELD that repeats the last one within the window is
 * counted instead.
 */
static void
log_vwrite(enum log_kind kind, const char *prefix, const char *err,
    const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX], line[sizeof lg.last];
	int64_t	now = 0;
	int	n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != NULL)
		n = snprintf(line, sizeof line, "filed: %s%s: %s\n", prefix,
		    msg, err);
	else
		n = snprintf(line, sizeof line, "filed: %s%s\n", prefix, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}

	if (kind == LOG_HELD) {
		now = log_clock();
		if (lg.lastlen == (size_t)n &&
		    memcmp(lg.last, line, (size_t)n) == 0 &&
		    now - lg.lastat < lg.window) {
			lg.repeats++;
			return;
		}
	}
	log_flush();
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
	if (kind == LOG_HELD) {
		memcpy(lg.last, line, (size_t)n);
		lg.lastlen = (size_t)n;
		lg.lastat = now;
	}
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
	log_vwrite(LOG_HELD, "", err, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_HELD, "", NULL, fmt, ap);
	va_end(ap);
}

/* Log an informational line. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_HELD, "", NULL, fmt, ap);
	va_end(ap);
}

/* Log a debug line, if -d was given. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!lg.debug)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_ALWAYS, "debug: ", NULL, fmt, ap);
	va_end(ap);
}

/* Log with the text of errno and exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_ALWAYS, "", strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ALWAYS, "", NULL, fmt, ap);
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
	log_vwrite(LOG_ALWAYS, "", NULL, fmt, ap);
	va_end(ap);
	_exit(status);
}
