/*
 * status.c: filed --status, a table of a mount's jobs for people, like
 * pueue status: one row per job, newest first, at most -n rows.
 *
 * It is a client of the mount and nothing else: it reads the four
 * directories with opendir/readdir, stats job files and reads their
 * user.filed.* attributes, as any user who may read the queue can. So it
 * needs no daemon socket, no rights a user lacks, and only libc.
 *
 * Why the order comes from the directories, and what it costs. Each
 * request to the mount is a round trip to filed, one for each thing the
 * kernel checks again (job entries and attributes are never cached): a
 * stat of a job file costs some 60 us here, a getxattr twice that, while
 * the listing of 100,000 names takes 40 ms. Sorting by a time read from
 * every job would cost seconds on a big queue before the first row of a
 * twenty-row table. But each directory lists its jobs in the order they
 * came into it (THE MOUNT in filed(1)), newest last, and the change that
 * brings a job into a directory sets its mtime. So the rows are the merge
 * of the four listings, each read from its end, by mtime: a job's mtime
 * is read only when it heads its list and another list has a head to
 * compare it with, and its attributes only when its row is taken. A table
 * of N rows costs N + 3 stats and N rows' reads at most, whatever the size
 * of the queue; a table of one directory needs no stat at all; and the
 * first N rows of a longer table are the table of N. Within a directory
 * the order is the listing's, which is that of mtime except in pending/,
 * where the edits of a draft and the rename that queues it change its
 * mtime but not its place.
 *
 * Rows whose job went away between the listing and the reading of its
 * attributes (it finished, moved or was removed) are left out; the table
 * is a snapshot of a queue that keeps moving, as ls is.
 */

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC	0x65735546
#endif

#define STATUS_ROWS	20	/* rows without -n */
#define STATUS_VAL	64	/* the longest attribute value read */

enum {
	COL_STATE,
	COL_ATTEMPT,
	COL_RESULT,
	COL_STARTED,
	COL_DURATION,
	COL_NAME,
	NCOLS
};

static const char *status_heads[NCOLS] = {
	"STATE", "ATTEMPT", "RESULT", "STARTED", "DURATION", "NAME"
};

static const char *status_dirs[] = {
	"pending", "active", "failed", "complete"
};
#define NDIRS	(sizeof status_dirs / sizeof status_dirs[0])

/* One directory's listing, read from its end (the newest job) on. */
struct slist {
	const char	*dir;
	char		*path;		/* MOUNTPOINT/dir */
	int		 fd;		/* the directory, for fstatat */
	struct buf	 names;		/* the names, each NUL-terminated */
	size_t		*off;		/* where each name starts in names */
	size_t		 n;		/* names not yet taken: off[0..n-1] */
	int		 keyed;		/* key is the mtime of off[n - 1] */
	int64_t		 key;
};

/* One row of the table: the columns as they are printed. */
struct srow {
	char		*col[NCOLS];
};

static int	 status_usage(FILE *, int);
static int	 status_mount(const char *);
static int	 status_list(struct slist *, const char *, const char *);
static int	 status_head(struct slist *);
static int	 status_attr(const char *, const char *, char *, size_t);
static int	 status_row(struct slist *, const char *, time_t,
		    struct srow *);
static void	 status_ago(const char *, time_t, char *, size_t);
static void	 status_duration(const char *, char *, size_t);
static char	*status_name(const char *);
static const char *status_colour(const char *);
static void	 status_print(struct srow *, size_t, int);

/* Print the usage of the status mode and return status. */
static int
status_usage(FILE *f, int status)
{
	fprintf(f,
	    "usage: filed --status [-n ROWS] [DIR] MOUNTPOINT\n"
	    "\n"
	    "  -n ROWS   show at most ROWS jobs, the newest (default %d;\n"
	    "            0 for all)\n"
	    "  DIR       pending, active, failed or complete: only its jobs\n",
	    STATUS_ROWS);
	return status;
}

/*
 * Is mnt a filed mount? A FUSE file system whose root holds the four
 * directories and new-id. Say why not on stderr and return -1.
 */
static int
status_mount(const char *mnt)
{
	struct statfs	 sfs;
	struct stat	 st;
	char		*p;
	size_t		 i;
	int		 ok;

	if (stat(mnt, &st) == -1 || statfs(mnt, &sfs) == -1) {
		fprintf(stderr, "filed: %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	ok = S_ISDIR(st.st_mode) && sfs.f_type == FUSE_SUPER_MAGIC;
	for (i = 0; ok && i <= NDIRS; i++) {
		p = xasprintf("%s/%s", mnt, i < NDIRS ? status_dirs[i] :
		    "new-id");
		if (lstat(p, &st) == -1 ||
		    (i < NDIRS ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
			ok = 0;
		free(p);
	}
	if (!ok) {
		fprintf(stderr, "filed: %s: not a filed mount\n", mnt);
		return -1;
	}
	return 0;
}

/* Read the listing of mnt/dir into l; say why not and return -1. */
static int
status_list(struct slist *l, const char *mnt, const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 cap = 0;

	memset(l, 0, sizeof *l);
	l->dir = dir;
	l->path = xasprintf("%s/%s", mnt, dir);
	l->fd = -1;
	buf_init(&l->names);
	if ((d = opendir(l->path)) == NULL)
		goto fail;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			l->off = xreallocarray(l->off, cap, sizeof *l->off);
		}
		l->off[l->n++] = l->names.len;
		buf_add(&l->names, de->d_name, strlen(de->d_name) + 1);
	}
	if (errno != 0) {
		closedir(d);
		goto fail;
	}
	if ((l->fd = dup(dirfd(d))) == -1) {
		closedir(d);
		goto fail;
	}
	closedir(d);
	return 0;

fail:
	fprintf(stderr, "filed: cannot read %s: %s\n", l->path,
	    strerror(errno));
	return -1;
}

/*
 * Make sure the key of l's newest name is known: its mtime in ns. A job
 * that went away since the listing is dropped. Return 1 with a key, 0
 * when l has no name left, -1 (said on stderr) on an error.
 */
static int
status_head(struct slist *l)
{
	struct stat	 st;
	const char	*name;

	while (l->n > 0 && !l->keyed) {
		name = l->names.data + l->off[l->n - 1];
		if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT) {
				l->n--;
				continue;
			}
			fprintf(stderr, "filed: cannot stat %s/%s: %s\n",
			    l->path, name, strerror(errno));
			return -1;
		}
		l->key = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		l->keyed = 1;
	}
	return l->n > 0;
}

/*
 * Read user.filed.key of path into val (size bytes, NUL-terminated).
 * Return 0, or -1 with errno: ENODATA when the job has no such attribute
 * right now, ENOENT when the job went away.
 */
static int
status_attr(const char *path, const char *key, char *val, size_t size)
{
	char	 name[64];
	ssize_t	 n;

	snprintf(name, sizeof name, "user.filed.%s", key);
	if ((n = getxattr(path, name, val, size - 1)) == -1)
		return -1;
	val[n] = '\0';
	return 0;
}

/*
 * Read the row of job name, the newest of l, into row. Return 0, 1 if the
 * job went away, -1 (said on stderr) on an error the table cannot show.
 * An attribute the user may not read shows as "?".
 */
static int
status_row(struct slist *l, const char *name, time_t now, struct srow *row)
{
	static const char	*keys[] = {
		"state", "attempts", "reason", "exit", "signal", "started",
		"duration"
	};
	enum { STATE, ATTEMPTS, REASON, EXIT, SIGNAL, STARTED, DURATION,
	    NKEYS };
	char			 val[NKEYS][STATUS_VAL], out[STATUS_VAL];
	char			*path;
	size_t			 i;
	int			 rv = 0;

	path = xasprintf("%s/%s", l->path, name);
	for (i = 0; i < NKEYS; i++) {
		val[i][0] = '\0';
		/* Only pending/ holds jobs of more than one state. */
		if (i == STATE && strcmp(l->dir, "pending") != 0) {
			snprintf(val[i], sizeof val[i], "%s", l->dir);
			continue;
		}
		/*
		 * A job that never ran has none of the rest; exit and
		 * signal are read only when reason says which one is shown.
		 */
		if ((i > ATTEMPTS && strcmp(val[ATTEMPTS], "0") == 0) ||
		    (i == EXIT && strcmp(val[REASON], "exit") != 0) ||
		    (i == SIGNAL && strcmp(val[REASON], "signal") != 0)) {
			snprintf(val[i], sizeof val[i], "-");
			continue;
		}
		/*
		 * A job is in complete/ because its last attempt exited
		 * with status 0, and nothing else puts it there: two
		 * requests fewer for what is most rows of a big queue.
		 */
		if (strcmp(l->dir, "complete") == 0 &&
		    (i == REASON || i == EXIT)) {
			snprintf(val[i], sizeof val[i], "%s",
			    i == REASON ? "exit" : "0");
			continue;
		}
		if (status_attr(path, keys[i], val[i], sizeof val[i]) == 0)
			continue;
		if (errno == ENOENT) {
			rv = 1;
			goto out;
		}
		if (errno == ENODATA)
			snprintf(val[i], sizeof val[i], "-");
		else if (errno == EACCES || errno == EPERM || errno == ERANGE)
			snprintf(val[i], sizeof val[i], "?");
		else {
			fprintf(stderr, "filed: cannot read %s: %s\n",
			    path, strerror(errno));
			rv = -1;
			goto out;
		}
	}

	row->col[COL_STATE] = xstrdup(val[STATE]);
	row->col[COL_ATTEMPT] = xstrdup(val[ATTEMPTS]);
	if (strcmp(val[REASON], "exit") == 0)
		row->col[COL_RESULT] = xasprintf("exit %s", val[EXIT]);
	else if (strcmp(val[REASON], "signal") == 0)
		row->col[COL_RESULT] = xstrdup(val[SIGNAL]);
	else
		row->col[COL_RESULT] = xstrdup(val[REASON]);
	status_ago(val[STARTED], now, out, sizeof out);
	row->col[COL_STARTED] = xstrdup(out);
	status_duration(val[DURATION], out, sizeof out);
	row->col[COL_DURATION] = xstrdup(out);
	row->col[COL_NAME] = status_name(name);
out:
	free(path);
	return rv;
}

/* Format an RFC 3339 time as its distance from now: "3m ago". */
static void
status_ago(const char *rfc, time_t now, char *out, size_t size)
{
	struct tm	 tm;
	const char	*end;
	time_t		 d;

	memset(&tm, 0, sizeof tm);
	if ((end = strptime(rfc, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0') {
		snprintf(out, size, "%s", rfc);	/* "-" or "?" */
		return;
	}
	d = now - timegm(&tm);
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(out, size, "%llds ago", (long long)d);
	else if (d < 3600)
		snprintf(out, size, "%lldm ago", (long long)d / 60);
	else if (d < 2 * 86400)
		snprintf(out, size, "%lldh ago", (long long)d / 3600);
	else
		snprintf(out, size, "%lldd ago", (long long)d / 86400);
}

/* Format seconds with milliseconds ("75.250") as "1m15s". */
static void
status_duration(const char *secs, char *out, size_t size)
{
	long long	 s;
	unsigned	 ms = 0;
	char		*end;

	s = strtoll(secs, &end, 10);
	if (end == secs || s < 0 || (*end != '\0' && (*end != '.' ||
	    sscanf(end, ".%3u", &ms) != 1))) {
		snprintf(out, size, "%s", secs);	/* "-" or "?" */
		return;
	}
	if (s < 60)
		snprintf(out, size, "%lld.%us", s, ms / 100);
	else if (s < 3600)
		snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 100 * 3600)
		snprintf(out, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(out, size, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/*
 * A name as it may be written to a terminal: control bytes become '?'
 * (util_printable), and so does every byte that is not part of a UTF-8
 * character and every C1 control (U+0080 to U+009F), which a terminal
 * may take for the start of an escape sequence.
 */
static char *
status_name(const char *name)
{
	char		 buf[FILED_NAME_MAX + 8];
	unsigned char	*s;
	size_t		 i, k, len, n;

	util_printable(name, buf, sizeof buf);
	s = (unsigned char *)buf;
	len = strlen(buf);
	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] < 0x80)
			continue;
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4;
		if (n == 1 || i + n > len ||
		    (s[i] == 0xc2 && s[i + 1] < 0xa0) ||
		    (s[i] == 0xe0 && s[i + 1] < 0xa0) ||
		    (s[i] == 0xed && s[i + 1] > 0x9f) ||
		    (s[i] == 0xf0 && s[i + 1] < 0x90) ||
		    (s[i] == 0xf4 && s[i + 1] > 0x8f))
			goto bad;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
		}
		continue;
bad:
		s[i] = '?';
		n = 1;
	}
	return xstrdup(buf);
}

/* The colour of a state on a terminal. */
static const char *
status_colour(const char *state)
{
	if (strcmp(state, "active") == 0)
		return "\033[36m";
	if (strcmp(state, "pending") == 0)
		return "\033[33m";
	if (strcmp(state, "failed") == 0)
		return "\033[31m";
	if (strcmp(state, "complete") == 0)
		return "\033[32m";
	return "\033[2m";
}

/* Print the header and the rows, columns as wide as their widest cell. */
static void
status_print(struct srow *rows, size_t nrows, int colour)
{
	size_t	 width[NCOLS], i, c, w;

	for (c = 0; c < NCOLS; c++)
		width[c] = strlen(status_heads[c]);
	for (i = 0; i < nrows; i++) {
		for (c = 0; c < NCOLS; c++) {
			if ((w = strlen(rows[i].col[c])) > width[c])
				width[c] = w;
		}
	}
	for (c = 0; c < NCOLS - 1; c++)
		printf("%-*s  ", (int)width[c], status_heads[c]);
	printf("%s\n", status_heads[NCOLS - 1]);
	for (i = 0; i < nrows; i++) {
		for (c = 0; c < NCOLS - 1; c++) {
			if (c == COL_STATE && colour)
				printf("%s%-*s\033[0m  ",
				    status_colour(rows[i].col[c]),
				    (int)width[c], rows[i].col[c]);
			else
				printf("%-*s  ", (int)width[c],
				    rows[i].col[c]);
		}
		printf("%s\n", rows[i].col[NCOLS - 1]);
	}
}

/*
 * filed --status [-n ROWS] [DIR] MOUNTPOINT: print the table and return
 * the exit status, 0 or 1. argv[0] is "--status".
 */
int
status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL,		0,		NULL, 0 }
	};
	struct slist	 lists[NDIRS], *l, *best;
	struct srow	*rows = NULL;
	const char	*mnt, *only = NULL, *name;
	const char	*nocolour;
	char		*end, *dir;
	size_t		 nlists = 0, nrows = 0, cap = 0, i, c, limit;
	long long	 n = STATUS_ROWS;
	time_t		 now;
	int		 ch, nheads, rv = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "hn:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return status_usage(stdout, 0);
		case 'n':
			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    n < 0) {
				fprintf(stderr, "filed: -n %s: not a number "
				    "of rows\n", optarg);
				return 1;
			}
			break;
		default:
			return status_usage(stderr, 1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 2) {
		dir = argv[0];
		for (i = 0; i < NDIRS; i++) {
			c = strlen(status_dirs[i]);
			if (strncmp(dir, status_dirs[i], c) == 0 &&
			    strspn(dir + c, "/") == strlen(dir + c))
				only = status_dirs[i];
		}
		if (only == NULL) {
			fprintf(stderr, "filed: %s: not pending, active, "
			    "failed or complete\n", dir);
			return 1;
		}
	} else if (argc != 1)
		return status_usage(stderr, 1);
	mnt = argv[argc - 1];
	limit = n == 0 ? SIZE_MAX : (size_t)n;

	if (status_mount(mnt) != 0)
		return 1;
	for (i = 0; i < NDIRS; i++) {
		if (only != NULL && strcmp(only, status_dirs[i]) != 0)
			continue;
		l = &lists[nlists++];
		if (status_list(l, mnt, status_dirs[i]) != 0)
			goto out;
	}

	now = time(NULL);
	while (nrows < limit) {
		/* The newest head; keys are needed only to compare heads. */
		nheads = 0;
		for (i = 0; i < nlists; i++)
			nheads += lists[i].n > 0;
		best = NULL;
		for (i = 0; i < nlists; i++) {
			l = &lists[i];
			if (l->n == 0)
				continue;
			if (nheads > 1) {
				if ((ch = status_head(l)) == -1)
					goto out;
				if (ch == 0)
					continue;
			}
			if (best == NULL || (nheads > 1 && l->key > best->key))
				best = l;
		}
		if (best == NULL)
			break;
		name = best->names.data + best->off[--best->n];
		best->keyed = 0;
		if (nrows == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			rows = xreallocarray(rows, cap, sizeof *rows);
		}
		if ((ch = status_row(best, name, now, &rows[nrows])) == -1)
			goto out;
		if (ch == 0)
			nrows++;
	}

	nocolour = getenv("NO_COLOR");
	status_print(rows, nrows, isatty(STDOUT_FILENO) &&
	    (nocolour == NULL || *nocolour == '\0'));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "filed: standard output: %s\n",
		    strerror(errno));
		goto out;
	}
	rv = 0;

out:
	for (i = 0; i < nrows; i++) {
		for (c = 0; c < NCOLS; c++)
			free(rows[i].col[c]);
	}
	free(rows);
	for (i = 0; i < nlists; i++) {
		if (lists[i].fd != -1)
			close(lists[i].fd);
		free(lists[i].path);
		free(lists[i].off);
		buf_free(&lists[i].names);
	}
	return rv;
}
