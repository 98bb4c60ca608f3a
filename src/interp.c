/*
 * interp.c: would the exec of a job's interpreter reach filed's own mount?
 *
 * - posix_spawn holds filed's one thread until its child has exec'd (or
 *   failed to), and an exec that looks a path up in filed's mount, or
 *   reads a file there, waits for filed to answer: it never would, and
 *   filed would hang for good. The settings' shell and workdir are checked
 *   when they are loaded (conf.c); a job's #! line names its interpreter
 *   itself, and is checked here, before each spawn, on the loop.
 * - The check walks the path as the kernel would, one component at a
 *   time, each opened O_PATH and O_NOFOLLOW from its directory's
 *   descriptor, symbolic links followed by hand (40 at most, as the
 *   kernel's limit), relative paths from the attempt's directory. It never
 *   asks filed anything: the walk reaches the mount only through its root,
 *   which a lookup in the file system beneath finds with no request to
 *   filed, and the device of each step is read with AT_STATX_DONT_SYNC,
 *   which sends none either (on a kernel that ignores it for FUSE, a walk
 *   into the mount waits as the exec would have: no worse than without
 *   the check). A walk that reaches the mount's device stops there: the
 *   exec would have entered it. The mount's own device comes from
 *   /proc/self/mountinfo, which no kernel asks filed for.
 * - An interpreter that is itself a script is walked for its own #! line,
 *   as the kernel runs it, up to the kernel's nesting limit.
 * - Whatever else goes wrong (no such file, no permission, a loop of
 *   links) is left to the exec, which reports it as it always has: the
 *   check says only "the mount" or "not the mount".
 * - Without statx (an old kernel or libc) nothing is checked.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

/*
 * The kernel's limits: links in one lookup, and scripts one exec goes
 * through (fs/exec.c: a sixth is ELOOP).
 */
#define INTERP_MAXLINKS	40
#define INTERP_MAXNEST	5

static struct {
	int		known;		/* the mount's device is known */
	unsigned	major, minor;
} ip;

static int	interp_unescape(const char *, char *, size_t);
static int	interp_ours(int, mode_t *);
static int	interp_walk(const char *, const char *, int);
static int	interp_script(int, const char *, const char *, int);

/*
 * Note the device of the mount at path (resolved), from the last line of
 * /proc/self/mountinfo that has it as its mount point: a stat of the mount
 * could ask filed, on a kernel that does not honour AT_STATX_DONT_SYNC
 * for FUSE, and filed would wait on itself as it starts. NULL forgets it.
 * Returns 0, or -1 if it is not found (nothing is checked then).
 */
int
interp_set_mount(const char *path)
{
	FILE		*f;
	char		*line = NULL, mnt[PATH_MAX];
	size_t		 size = 0;
	unsigned	 major, minor;
	int		 n;

	ip.known = 0;
	if (path == NULL)
		return 0;
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -1;
	while (getline(&line, &size, f) != -1) {
		/* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... */
		n = -1;
		if (sscanf(line, "%*u %*u %u:%u %*s %n", &major, &minor,
		    &n) != 2 || n < 0 || interp_unescape(line + n, mnt,
		    sizeof mnt) != 0 || strcmp(mnt, path) != 0)
			continue;
		ip.major = major;
		ip.minor = minor;
		ip.known = 1;
	}
	free(line);
	fclose(f);
	return ip.known ? 0 : -1;
}

/*
 * The first field of s, a mount point as mountinfo writes it (a blank,
 * a tab, a newline and a backslash as \ and three octal digits), into
 * out. Returns 0, or -1 if it does not fit.
 */
static int
interp_unescape(const char *s, char *out, size_t size)
{
	size_t	n = 0;

	while (*s != '\0' && *s != ' ' && *s != '\n') {
		if (n + 1 >= size)
			return -1;
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			out[n++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 4;
		} else
			out[n++] = *s++;
	}
	out[n] = '\0';
	return 0;
}

#ifdef HAVE_STATX
/*
 * Is the file open at fd (O_PATH) on the mount's device? Its type in
 * *mode; 0 if it cannot be read.
 */
static int
interp_ours(int fd, mode_t *mode)
{
	struct statx	sx;

	*mode = 0;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC |
	    AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx) == -1)
		return 0;
	*mode = sx.stx_mode;
	return sx.stx_dev_major == ip.major && sx.stx_dev_minor == ip.minor;
}
#else
static int
interp_ours(int fd, mode_t *mode)
{
	(void)fd;
	*mode = 0;
	return 0;
}
#endif

/*
 * Would exec of path reach filed's mount? A relative path is taken from
 * dir, when that is an absolute path. 1 if so, else 0.
 */
int
interp_in_mount(const char *path, const char *dir)
{
	if (!ip.known)
		return 0;
	return interp_walk(path, dir, 0);
}

/*
 * Walk path from dir (or from / when it is absolute); nest counts the
 * scripts whose interpreter this is. 1 if a step is on the mount.
 */
static int
interp_walk(const char *path, const char *dir, int nest)
{
	char		 rest[PATH_MAX], link[PATH_MAX], *p, *comp;
	mode_t		 mode;
	ssize_t		 n;
	size_t		 len;
	int		 cur, nfd = -1, links = 0, rv = 0;

	if (strlen(path) >= sizeof rest || (*path != '/' && *dir != '/'))
		return 0;
	memcpy(rest, path, strlen(path) + 1);
	cur = open(*path == '/' ? "/" : dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur == -1)
		return 0;
	if (interp_ours(cur, &mode)) {
		close(cur);
		return 1;
	}
	p = rest;
	for (;;) {
		p += strspn(p, "/");
		if (*p == '\0')
			break;
		comp = p;
		p += strcspn(p, "/");
		if (*p != '\0')
			*p++ = '\0';
		nfd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd == -1)
			break;
		if (interp_ours(nfd, &mode)) {
			rv = 1;
			break;
		}
		if (S_ISLNK(mode)) {
			/* The link's text, then what was left after it. */
			if (++links > INTERP_MAXLINKS ||
			    (n = readlinkat(nfd, "", link,
			    sizeof link - 1)) <= 0)
				break;
			len = (size_t)n;
			link[len] = '\0';
			if (*p != '\0') {
				if (len + 1 + strlen(p) >= sizeof link)
					break;
				link[len++] = '/';
				memcpy(link + len, p, strlen(p) + 1);
			}
			memcpy(rest, link, strlen(link) + 1);
			p = rest;
			close(nfd);
			nfd = -1;
			if (*rest == '/') {
				close(cur);
				cur = open("/", O_PATH | O_DIRECTORY |
				    O_CLOEXEC);
				if (cur == -1)
					return 0;
			}
			continue;
		}
		if (*p == '\0') {
			/* The last component: a file that may be a script. */
			if (S_ISREG(mode) && nest < INTERP_MAXNEST)
				rv = interp_script(cur, comp, dir, nest);
			break;
		}
		close(cur);
		cur = nfd;
		nfd = -1;
	}
	if (nfd != -1)
		close(nfd);
	close(cur);
	return rv;
}

/*
 * The file name in directory dirfd (not on the mount) is a regular file:
 * if it is a script, walk its interpreter. 1 if that reaches the mount.
 */
static int
interp_script(int dirfd, const char *name, const char *dir, int nest)
{
	char	 line[256], *nl, *prog, *arg;
	ssize_t	 n;
	int	 fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return 0;
	line[n] = '\0';
	if ((nl = strchr(line, '\n')) != NULL)
		*nl = '\0';
	if (interp_split(line + 2, &prog, &arg) != 0)
		return 0;
	return interp_walk(prog, dir, nest + 1);
}

/*
 * Split an interpreter line (NUL-terminated, in place) as the kernel
 * splits a #! line: the program, up to the first blank, then at most one
 * argument, the rest of the line trimmed ("" if none). Returns -1 if
 * there is no program.
 */
int
interp_split(char *line, char **prog, char **arg)
{
	char	*p, *a;
	size_t	 n;

	p = line + strspn(line, " \t");
	n = strcspn(p, " \t\r");
	if (n == 0)
		return -1;
	a = p + n;
	if (*a != '\0') {
		*a++ = '\0';
		a += strspn(a, " \t");
		n = strlen(a);
		while (n > 0 && strchr(" \t\r", a[n - 1]) != NULL)
			a[--n] = '\0';
	}
	*prog = p;
	*arg = a;
	return 0;
}
