/*
 * util.c: small helpers shared by the daemon and the tests: clock, time
 * formatting, the job-name rule, directory fsync, and what filed does to
 * the descriptors and the open-file limit it was started with.
 */

#include <sys/resource.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

#if defined(HAVE_CLOSE_RANGE) && !defined(CLOSE_RANGE_CLOEXEC)
#define CLOSE_RANGE_CLOEXEC	(1U << 2)
#endif

static int	util_cloexec_dir(const char *, int);

/* The soft limit on open files filed was started with (util_nofile_raise). */
static struct {
	int		saved;
	uint64_t	soft;		/* UINT64_MAX for unlimited */
	uint64_t	now;		/* the soft limit filed set */
} nofile;

/* Return the wall-clock time in nanoseconds since the epoch. */
int64_t
util_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Format a time in ns as RFC 3339 UTC with seconds into out. */
char *
util_rfc3339(int64_t ns, char *out, size_t size)
{
	time_t		t = (time_t)(ns / 1000000000);
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
	return out;
}

/*
 * Format a time in ns as RFC 3339 UTC with milliseconds into out, e.g.
 * 2026-12-06T23:41:07.123Z (the events stream's times).
 */
char *
util_rfc3339_ms(int64_t ns, char *out, size_t size)
{
	time_t		t = (time_t)(ns / 1000000000);
	struct tm	tm;
	char		s[32];

	if (ns < 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
	else
		snprintf(out, size, "%s.%03dZ", s,
		    (int)(ns % 1000000000 / 1000000));
	return out;
}

/*
 * Return 0 if name (len bytes) is a valid job name, or a negative errno:
 * 1..255 bytes, no '/', no control character, not "." or "..".
 */
int
util_valid_name(const char *name, size_t len)
{
	size_t	i;

	if (len == 0)
		return -EINVAL;
	if (len > FILED_NAME_MAX)
		return -ENAMETOOLONG;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c < 0x20 || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

/*
 * fsync a directory so that entries created or renamed in it are durable
 * (through io.c, like every sync of the state directory).
 */
int
util_fsync_dir(const char *path)
{
	int	fd, rv, saved;

	if ((fd = io_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)) == -1)
		return -1;
	rv = io_fsync(fd);
	saved = errno;
	io_close(fd);
	errno = saved;
	return rv;
}

/*
 * Copy name into out (size bytes) for a log line: control bytes become '?'
 * and a long name is cut with "...", so that a refused name never breaks
 * the line it is logged in.
 */
const char *
util_printable(const char *name, char *out, size_t size)
{
	size_t	i;

	for (i = 0; name[i] != '\0' && i + 4 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (name[i] != '\0' && size >= 4) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/*
 * Set close-on-exec on every descriptor from low up that one of the
 * directories /proc/self/fd or /dev/fd lists. Return 0, or -1 if dir
 * cannot be read.
 */
static int
util_cloexec_dir(const char *dir, int low)
{
	struct dirent	*de;
	DIR		*d;
	char		*end;
	long		 fd;
	int		 flags;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end != '\0' || fd < low || fd == dirfd(d))
			continue;
		if ((flags = fcntl((int)fd, F_GETFD)) != -1 &&
		    (flags & FD_CLOEXEC) == 0)
			fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
	}
	closedir(d);
	return 0;
}

/*
 * Mark close-on-exec every open descriptor from low up.
 *
 * filed opens all its own descriptors close-on-exec; this is for those it
 * was given: whatever the shell, the supervisor or a root launcher had
 * open when it started filed. Without it every job would inherit them,
 * and with run_as = submitter an unprivileged job would get root's open
 * files. They are marked, not closed: a supervisor's notify socket, a
 * descriptor passed by systemd, or one a sanitizer or valgrind uses keeps
 * working in filed itself; only the jobs lose them. close_range(2) does it
 * in one call (Linux 5.11 and glibc 2.34); on an older kernel (ENOSYS,
 * or EINVAL for the flag) the descriptors are found in /proc/self/fd or
 * /dev/fd, and without either every number up to the limit is tried.
 */
void
util_cloexec_from(int low)
{
	struct rlimit	rl;
	rlim_t		fd, max;
	int		flags;

#ifdef HAVE_CLOSE_RANGE
	if (close_range((unsigned int)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	if (util_cloexec_dir("/proc/self/fd", low) == 0 ||
	    util_cloexec_dir("/dev/fd", low) == 0)
		return;
	max = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 65536;
	for (fd = (rlim_t)low; fd < max; fd++) {
		if ((flags = fcntl((int)fd, F_GETFD)) != -1 &&
		    (flags & FD_CLOEXEC) == 0)
			fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
	}
}

/*
 * Raise filed's soft limit on open files to the hard limit, and remember
 * the soft limit it was started with. Return 0 and the soft limit now in
 * force in *now, or -1 with errno set.
 *
 * filed holds a descriptor for the log of every running attempt, for
 * every job file open through the mount and for each spare log file, and
 * the 1024 that most systems give a process is soon used up: then jobs
 * fail to start and reads fail for a reason no setting explains. The
 * hard limit is what the admin allows; filed takes it. Its jobs must not:
 * a program may size tables by the limit, or rely on select(2)'s 1024,
 * and the admin set the soft limit for the processes filed starts. So the
 * soft limit filed was given is kept here (util_nofile_soft), and put
 * back around each spawn (util_nofile_jobs), so that every attempt
 * inherits it.
 */
int
util_nofile_raise(uint64_t *now)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	nofile.saved = 1;
	nofile.soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX :
	    (uint64_t)rl.rlim_cur;
	nofile.now = nofile.soft;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			return -1;
		nofile.now = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX :
		    (uint64_t)rl.rlim_cur;
	}
	*now = nofile.now;
	return 0;
}

/*
 * The soft limit on open files filed was started with, which its jobs
 * get (UINT64_MAX for unlimited). Before util_nofile_raise, the one in
 * force now.
 */
uint64_t
util_nofile_soft(void)
{
	struct rlimit	rl;

	if (nofile.saved)
		return nofile.soft;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	return (uint64_t)rl.rlim_cur;
}

/*
 * Return non-zero if filed raised its soft limit on open files, so that
 * its jobs must have util_nofile_soft() set back (util_nofile_jobs).
 */
int
util_nofile_raised(void)
{
	return nofile.saved && nofile.now != nofile.soft;
}

/*
 * Around a spawn: set the soft limit on open files to the one filed was
 * started with (jobs = 1), which the child inherits, then back to filed's
 * own (jobs = 0). posix_spawn(3) has no attribute for resource limits,
 * and a trampoline that sets it in the child would cost every attempt an
 * exec of filed, a third of a short job's time. The price of doing it
 * here: for the moment of the spawn (vfork and exec, well under a
 * millisecond) a descriptor that filed's thread pool opens meanwhile (a
 * compaction, a settings save) fails with EMFILE if filed then holds more
 * descriptors than that limit; those report and recover as from any
 * other failed open. Nothing happens when filed did not raise the limit.
 */
void
util_nofile_jobs(int jobs)
{
	struct rlimit	rl;

	if (!util_nofile_raised() || getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (jobs)
		rl.rlim_cur = nofile.soft == UINT64_MAX ? RLIM_INFINITY :
		    (rlim_t)nofile.soft;
	else
		rl.rlim_cur = nofile.now == UINT64_MAX ? RLIM_INFINITY :
		    (rlim_t)nofile.now;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

/*
 * path resolved through links (malloc'd), or NULL (errno set). Its last
 * component may be missing, or a stale mount (ENOTCONN): then its
 * directory is resolved, and its name put after it.
 */
char *
util_resolve(const char *path)
{
	const char	*base, *name;
	char		*real, *up, *parent;

	if ((real = realpath(path, NULL)) != NULL ||
	    (errno != ENOENT && errno != ENOTCONN))
		return real;
	base = strrchr(path, '/');
	up = base == NULL ? xstrdup(".") : base == path ? xstrdup("/") :
	    xstrndup(path, (size_t)(base - path));
	name = base == NULL ? path : base + 1;
	parent = realpath(up, NULL);
	free(up);
	if (parent == NULL)
		return NULL;
	real = xasprintf("%s/%s", strcmp(parent, "/") == 0 ? "" : parent,
	    name);
	free(parent);
	return real;
}

/*
 * Is path, resolved (util_resolve), dir itself or beneath it? dir is a
 * resolved path. 1 if so, else 0 (and 0 when path cannot be resolved).
 */
int
util_path_under(const char *path, const char *dir)
{
	char	*real;
	size_t	 n;
	int	 under;

	if ((real = util_resolve(path)) == NULL)
		return 0;
	n = strlen(dir);
	while (n > 0 && dir[n - 1] == '/')
		n--;
	under = strncmp(real, dir, n) == 0 &&
	    (real[n] == '\0' || real[n] == '/');
	free(real);
	return under;
}
