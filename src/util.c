/*
 * util.c: small helpers shared by the daemon and the tests: clock, time
 * formatting, the job-name rule and directory fsync.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

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
