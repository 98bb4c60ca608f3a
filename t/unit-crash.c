/*
 * unit-crash.c: simulated power loss through the I/O seam (io.c).
 *
 * A fake io_ops backend, modelled on LevelDB's FaultInjectionTestEnv and
 * SQLite's crash VFS, passes every operation on to the real file system
 * and keeps, for the state directory, what a power loss could leave:
 *
 * - per file, its contents as of its last fdatasync/fsync (a file never
 *   synced has none), and its size now;
 * - the directory's entries as of its last fsync, and the creates, renames
 *   and unlinks made since, in order.
 *
 * All operations are serialized under one lock, so that the thread pool
 * cannot blur the order. Before every fsync-family call (and once at the
 * end) the backend takes a crash image: the synced entries with any
 * prefix of the unsynced directory operations applied (from "none made
 * it" to "all made it", as ordered metadata allows), each file holding
 * its synced contents, and its unsynced tail either cut off or replaced by
 * garbage (appended data may be garbage on ext4 writeback, ALICE).
 *
 * A scripted workload runs the real queue and journal on a real uv loop:
 * jobs and drafts are created, renamed, started, ended (exit, retry,
 * retry later, complete), removed; drafts and a failed job get a policy
 * (user.filed.*), one draft queued after a job; pending/ is chmod'ed;
 * filed.ini is saved; the journal compacts several times (a tiny
 * compact_min) with
 * commits going on. Each change whose completion said 0 is recorded with
 * the number of syncs done by then, together with what the change left
 * (the job's state as the queue shows it). Every image is then replayed in
 * a fresh queue and must open (journal_open and conf_load never refuse),
 * hold every change acknowledged before its crash point (what a job shows
 * is its last acknowledged state or a later one), and hold no job that
 * was never submitted.
 *
 * Last, the harness shows that it can fail: with one sync turned into a
 * no-op that reports success (a journal batch's fdatasync, the directory
 * fsync after compaction's rename, the sync of journal.new before that
 * rename, filed.ini.tmp's fsync), some image must lose an acknowledged
 * change. kill -9 cannot find such a bug; this can.
 *
 * Before all that, failed batches (fb_*): the backend fails a batch's
 * fdatasync, or its write midway, and keeps for the journal what
 * writeback may have put on the disk besides what was synced (its
 * contents now, and the longest they were since the last sync, which a
 * later cut may not have reached the disk to undo). Every image, and one
 * taken inside each refusing callback, must replay no record that had
 * been refused by then. When the cut itself fails, a forked child must
 * exit with JOURNAL_EXIT and answer nothing.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"
#include "tap.h"

#define MAXFD		1024
#define MAXNS		16
#define MAXPEND		64
#define NAMELEN		64
#define MAXLINE		(1 << 20)
#define MAXHIST		64

/* A file as the backend knows it. */
struct fobj {
	char		*dur;		/* contents at its last sync */
	size_t		 durlen;
	uint64_t	 cursize;	/* its size now */
	char		*now;		/* tracked: its contents now */
	size_t		 nowlen;
	char		*max;		/* tracked: longest since the sync */
	size_t		 maxlen;
	dev_t		 dev;
	ino_t		 ino;
	struct fobj	*next;		/* all of them, for freeing */
};

/* A directory entry: a name and the file it names. */
struct nsent {
	char		 name[NAMELEN];
	struct fobj	*obj;
};

/* A directory operation not yet made durable by an fsync of the dir. */
enum { DOP_CREATE, DOP_RENAME, DOP_UNLINK };
struct dop {
	int		 type;
	char		 name[NAMELEN];
	char		 to[NAMELEN];
	struct fobj	*obj;
};

/* A file in a crash image. */
struct ifile {
	char		 name[NAMELEN];
	char		*data;		/* synced contents */
	size_t		 len;
	size_t		 extra;		/* unsynced bytes after them */
	char		*now;		/* tracked: everything made it */
	size_t		 nowlen;
	char		*max;		/* tracked: the longest contents */
	size_t		 maxlen;	/* since the sync, later cuts lost */
};

/* What a crash image's unsynced part of a file becomes. */
enum tail {
	TAIL_CUT,		/* lost */
	TAIL_GARBAGE,		/* garbage of the same length */
	TAIL_NOW,		/* tracked: every change made it */
	TAIL_MAX,		/* tracked: the longest contents made it */
	TAIL_NVARIANTS
};

/* What a crash at one point leaves, with a prefix of the dir ops. */
struct image {
	int		 point;		/* crash point: before sync #point */
	int		 done;		/* syncs done before it */
	int		 prefix;	/* directory operations kept */
	int		 npend;		/* of so many */
	int		 nfiles;
	struct ifile	 f[MAXNS];
	char		 what[NAMELEN + 16];	/* the sync it came before */
	int		 nacked;	/* fb: answers given by then */
	int		 nrefused;
};

/* Which sync the backend turns into a no-op, to prove the test fails. */
enum drop {
	DROP_NONE,
	DROP_BATCH,		/* the 2nd fdatasync of the journal's batches */
	DROP_DIRSYNC,		/* the dir fsync after the 1st compaction */
	DROP_NEWSYNC,		/* every sync of journal.new in compactions */
	DROP_CONFSYNC		/* every fsync of filed.ini.tmp */
};

static struct {
	pthread_mutex_t	 lock;
	const struct io_ops *real;
	char		*dir;		/* the state directory */
	size_t		 dirlen;
	struct fobj	*byfd[MAXFD];
	char		*fdname[MAXFD];	/* the name it was opened as */
	int		 isdir[MAXFD];
	struct fobj	*objs;
	struct nsent	 dur[MAXNS];	/* entries as of the last dir fsync */
	int		 ndur;
	struct dop	 pend[MAXPEND];
	int		 npend;
	int		 nsync;		/* syncs done */
	struct image	*img;
	size_t		 nimg, capimg;
	enum drop	 drop;
	int		 nbatch;	/* fdatasyncs of "journal" seen */
	int		 renamed;	/* a compaction renamed journal.new */
	int		 nrename;	/* renames of journal.new */
	int		 dropped;	/* syncs turned into no-ops */

	/*
	 * For the failed-batch tests: keep, per file, its contents now and
	 * the longest they have been since its last sync (what writeback may
	 * have put on the disk before a later cut); fail chosen calls on
	 * "journal"; and the answers the test's callbacks gave so far.
	 */
	int		 track;
	int		 fail_datasync;	/* fail so many fdatasyncs */
	int		 fail_write;	/* 1: stop a write after a record */
	int		 fail_truncate;	/* fail the next ftruncate */
	int		 fail_fsync;	/* fail the next fsync */
	int		 nfaults;	/* calls failed on purpose */
	int		 nacked;
	int		 nrefused;
} fk;

/* One key's history of acknowledged states. */
struct hist {
	uint64_t	 key;
	int		 n;
	int		 ack[MAXHIST];	/* syncs done when it was acked */
	char		*facts[MAXHIST];
};

#define KEY_NODE	1000000		/* + ino */
#define KEY_CONF	2000000

static struct {
	uv_loop_t	 loop;
	struct journal	*j;
	struct conf	 conf;
	char		*statedir;
	char		*conf_path;
	struct hist	 h[64];
	int		 nh;
	int		 inflight;	/* ops not yet completed */
	int		 errors;	/* ops completed with an error */
} w;

/* An operation whose completion is awaited. */
struct op {
	uint64_t	 key;
};

static char	 tmpdir[] = "/tmp/unit-crash.XXXXXX";
static uint32_t	 rng = 2463534242U;

static const char *fk_name(const char *);
static struct fobj *fk_obj(int, int);
static char	*fk_slurp(int, size_t *);
static char	*fk_copy(const char *, size_t);
static void	 fk_read(struct fobj *, int);
static void	 fk_track(int);
static int	 fk_is_journal(int);
static void	 fk_apply(struct nsent *, int *, const struct dop *);
static void	 fk_capture(const char *);
static int	 fk_open(const char *, int, mode_t);
static ssize_t	 fk_pwrite(int, const void *, size_t, off_t);
static ssize_t	 fk_write(int, const void *, size_t);
static int	 fk_sync(int, int);
static int	 fk_fdatasync(int);
static int	 fk_fsync(int);
static int	 fk_rename(const char *, const char *);
static int	 fk_ftruncate(int, off_t);
static int	 fk_unlink(const char *);
static int	 fk_close(int);
static void	 fk_reset(void);
static int	 fk_syncs(void);
static void	 close_handle(uv_handle_t *, void *);
static uint32_t	 rnd(void);
static char	*job_facts(const struct job *);
static char	*node_facts(uint64_t);
static char	*conf_facts(const struct conf *);
static char	*facts_of(uint64_t, const struct conf *);
static struct hist *hist_get(uint64_t);
static void	 hist_ack(uint64_t, int);
static void	 op_done(void *, int);
static void	 op_waited(void *);
static struct op *op_new(uint64_t);
static void	 settle(void);
static uint64_t	 submit(const char *, const char *);
static void	 rename_job(uint64_t, const char *);
static void	 remove_job(uint64_t);
static void	 start_job(uint64_t);
static void	 end_job(uint64_t, int, int, int64_t);
static void	 chmod_node(uint64_t, mode_t);
static void	 policy_job(uint64_t, int, const char *);
static void	 save_conf(long);
static int	 workload(void);
static void	 empty_dir(const char *);
static void	 materialize(const struct image *, const char *, enum tail);
static void	 dump_image(const struct image *);
static int	 check_image(const struct image *, const char *, int, char **);
static int	 check_all(int, int *);
static void	 reset(void);

/* Return the name in the state directory that path is, or NULL. */
static const char *
fk_name(const char *path)
{
	const char	*name;

	if (strncmp(path, fk.dir, fk.dirlen) != 0 || path[fk.dirlen] != '/')
		return NULL;
	name = path + fk.dirlen + 1;
	if (strchr(name, '/') != NULL || strlen(name) >= NAMELEN)
		return NULL;
	return name;
}

/* The file open on fd, known (by inode) or new (created is set). */
static struct fobj *
fk_obj(int fd, int created)
{
	struct fobj	*o;
	struct stat	 st;

	if (fstat(fd, &st) == -1)
		fatal("fstat");
	if (!created) {
		for (o = fk.objs; o != NULL; o = o->next) {
			if (o->dev == st.st_dev && o->ino == st.st_ino)
				break;
		}
		if (o != NULL) {
			o->cursize = (uint64_t)st.st_size;
			return o;
		}
	}
	/*
	 * A new file, or one that was there before the backend: the latter
	 * never happens in this test's fresh directory. Inode numbers are
	 * reused, so a new file hides an old one with its number.
	 */
	for (o = fk.objs; o != NULL; o = o->next) {
		if (o->dev == st.st_dev && o->ino == st.st_ino)
			o->ino = 0;
	}
	o = xcalloc(1, sizeof *o);
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->cursize = (uint64_t)st.st_size;
	o->next = fk.objs;
	fk.objs = o;
	if (!created)
		fk_read(o, fd);
	return o;
}

/* The contents of the file open on fd (caller frees), their length in *lenp. */
static char *
fk_slurp(int fd, size_t *lenp)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 len, got = 0;
	char		 path[64], *data;

	/* It may be open write-only: read it through another descriptor. */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatal("open %s", path);
	if (fstat(fd, &st) == -1)
		fatal("fstat");
	len = (size_t)st.st_size;
	data = xmalloc(len + 1);
	while (got < len) {
		n = pread(fd, data + got, len - got, (off_t)got);
		if (n <= 0)
			fatal("pread");
		got += (size_t)n;
	}
	close(fd);
	*lenp = len;
	return data;
}

/* The file's contents are now durable: keep a copy of them. */
static void
fk_read(struct fobj *o, int fd)
{
	free(o->dur);
	o->dur = fk_slurp(fd, &o->durlen);
	o->cursize = o->durlen;
	free(o->max);
	o->max = NULL;
	o->maxlen = 0;
	if (fk.track) {
		free(o->now);
		o->now = xmalloc(o->durlen + 1);
		memcpy(o->now, o->dur, o->durlen);
		o->nowlen = o->durlen;
	}
}

/*
 * The file open on fd changed: if tracking, keep its contents now, and
 * as the longest since its last sync if they are. Called with the lock.
 */
static void
fk_track(int fd)
{
	struct fobj	*o;

	if (!fk.track || fd < 0 || fd >= MAXFD || (o = fk.byfd[fd]) == NULL)
		return;
	free(o->now);
	o->now = fk_slurp(fd, &o->nowlen);
	if (o->nowlen > (o->max != NULL ? o->maxlen : o->durlen)) {
		free(o->max);
		o->max = xmalloc(o->nowlen + 1);
		memcpy(o->max, o->now, o->nowlen);
		o->maxlen = o->nowlen;
	}
}

/* Return 1 if fd is open on the file named "journal". */
static int
fk_is_journal(int fd)
{
	return fd >= 0 && fd < MAXFD && fk.fdname[fd] != NULL &&
	    strcmp(fk.fdname[fd], "journal") == 0;
}

/* Apply one directory operation to a list of entries. */
static void
fk_apply(struct nsent *ns, int *n, const struct dop *d)
{
	int	i, from = -1, to = -1;

	for (i = 0; i < *n; i++) {
		if (strcmp(ns[i].name, d->name) == 0)
			from = i;
		if (d->type == DOP_RENAME && strcmp(ns[i].name, d->to) == 0)
			to = i;
	}
	switch (d->type) {
	case DOP_CREATE:
		if (from == -1) {
			if (*n == MAXNS)
				fatalx("too many files");
			from = (*n)++;
		}
		snprintf(ns[from].name, NAMELEN, "%s", d->name);
		ns[from].obj = d->obj;
		break;
	case DOP_RENAME:
		if (from == -1)
			fatalx("rename of %s, not in the directory", d->name);
		snprintf(ns[from].name, NAMELEN, "%s", d->to);
		if (to != -1) {
			ns[to] = ns[--*n];
		}
		break;
	case DOP_UNLINK:
		if (from != -1)
			ns[from] = ns[--*n];
		break;
	}
}

/* Copy len bytes of data (NULL: none) for an image. */
static char *
fk_copy(const char *data, size_t len)
{
	char	*p;

	if (data == NULL)
		return NULL;
	p = xmalloc(len + 1);
	memcpy(p, data, len);
	return p;
}

/*
 * A crash now: record the image for each prefix of the pending directory
 * operations, tagged with what (the sync about to run). Called with the
 * lock held, before a sync runs.
 */
static void
fk_capture(const char *what)
{
	struct nsent	 ns[MAXNS];
	struct image	*im;
	struct fobj	*o;
	int		 n, i, p;

	for (p = 0; p <= fk.npend; p++) {
		memcpy(ns, fk.dur, sizeof ns);
		n = fk.ndur;
		for (i = 0; i < p; i++)
			fk_apply(ns, &n, &fk.pend[i]);
		if (fk.nimg == fk.capimg) {
			fk.capimg = fk.capimg == 0 ? 64 : fk.capimg * 2;
			fk.img = xreallocarray(fk.img, fk.capimg,
			    sizeof *fk.img);
		}
		im = &fk.img[fk.nimg++];
		memset(im, 0, sizeof *im);
		im->point = fk.nsync + 1;
		im->done = fk.nsync;
		im->prefix = p;
		im->npend = fk.npend;
		im->nfiles = n;
		snprintf(im->what, sizeof im->what, "%s", what);
		im->nacked = fk.nacked;
		im->nrefused = fk.nrefused;
		for (i = 0; i < n; i++) {
			o = ns[i].obj;
			memcpy(im->f[i].name, ns[i].name, NAMELEN);
			im->f[i].data = xmalloc(o->durlen + 1);
			if (o->durlen > 0)
				memcpy(im->f[i].data, o->dur, o->durlen);
			im->f[i].len = o->durlen;
			im->f[i].extra = o->cursize > o->durlen ?
			    (size_t)(o->cursize - o->durlen) : 0;
			im->f[i].now = fk_copy(o->now, o->nowlen);
			im->f[i].nowlen = o->nowlen;
			im->f[i].max = fk_copy(o->max, o->maxlen);
			im->f[i].maxlen = o->maxlen;
		}
	}
}

/* open: a new name in the state directory is an unsynced create. */
static int
fk_open(const char *path, int flags, mode_t mode)
{
	struct stat	 st;
	struct dop	*d;
	const char	*name;
	int		 fd, existed;

	pthread_mutex_lock(&fk.lock);
	name = fk_name(path);
	existed = stat(path, &st) == 0;
	fd = fk.real->open(path, flags, mode);
	if (fd >= MAXFD)
		fatalx("descriptor %d too large", fd);
	if (fd >= 0 && strcmp(path, fk.dir) == 0)
		fk.isdir[fd] = 1;
	else if (fd >= 0 && name != NULL) {
		fk.byfd[fd] = fk_obj(fd, !existed);
		fk.fdname[fd] = xstrdup(name);
		if (!existed) {
			if (fk.npend == MAXPEND)
				fatalx("too many directory operations");
			d = &fk.pend[fk.npend++];
			d->type = DOP_CREATE;
			snprintf(d->name, NAMELEN, "%s", name);
			d->obj = fk.byfd[fd];
		}
		fk_track(fd);
	}
	pthread_mutex_unlock(&fk.lock);
	return fd;
}

/* pwrite: the file grows (or changes), nothing is durable yet. */
static ssize_t
fk_pwrite(int fd, const void *data, size_t len, off_t off)
{
	struct stat	st;
	ssize_t		n;
	int		e;

	pthread_mutex_lock(&fk.lock);
	n = fk.real->pwrite(fd, data, len, off);
	e = errno;
	if (fd >= 0 && fd < MAXFD && fk.byfd[fd] != NULL &&
	    fstat(fd, &st) == 0)
		fk.byfd[fd]->cursize = (uint64_t)st.st_size;
	fk_track(fd);
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return n;
}

/*
 * write: as pwrite. With fail_write, a write to the journal stops after
 * its first line and a few bytes of the next, and the write that would
 * go on from there fails with ENOSPC: a disk that filled up midway.
 */
static ssize_t
fk_write(int fd, const void *data, size_t len)
{
	struct stat	 st;
	const char	*nl;
	ssize_t		 n;
	int		 e;

	pthread_mutex_lock(&fk.lock);
	if (fk.fail_write == 2 && fk_is_journal(fd)) {
		fk.fail_write = 0;
		fk.nfaults++;
		pthread_mutex_unlock(&fk.lock);
		errno = ENOSPC;
		return -1;
	}
	if (fk.fail_write == 1 && fk_is_journal(fd) &&
	    (nl = memchr(data, '\n', len)) != NULL &&
	    (size_t)(nl - (const char *)data) + 8 < len) {
		fk.fail_write = 2;
		fk.nfaults++;
		len = (size_t)(nl - (const char *)data) + 8;
	}
	n = fk.real->write(fd, data, len);
	e = errno;
	if (fd >= 0 && fd < MAXFD && fk.byfd[fd] != NULL &&
	    fstat(fd, &st) == 0)
		fk.byfd[fd]->cursize = (uint64_t)st.st_size;
	fk_track(fd);
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return n;
}

/* ftruncate: as a write; with fail_truncate, EIO on the journal. */
static int
fk_ftruncate(int fd, off_t len)
{
	struct stat	st;
	int		rv, e;

	pthread_mutex_lock(&fk.lock);
	if (fk.fail_truncate && fk_is_journal(fd)) {
		fk.fail_truncate = 0;
		fk.nfaults++;
		pthread_mutex_unlock(&fk.lock);
		errno = EIO;
		return -1;
	}
	rv = fk.real->ftruncate(fd, len);
	e = errno;
	if (fd >= 0 && fd < MAXFD && fk.byfd[fd] != NULL &&
	    fstat(fd, &st) == 0)
		fk.byfd[fd]->cursize = (uint64_t)st.st_size;
	fk_track(fd);
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return rv;
}

/*
 * A sync: first the crash image of the moment before it, then the sync
 * itself, which makes the file's contents (or, for the directory, its
 * entries) durable; unless this is the sync the test drops, or one that
 * is to fail (with EIO, making nothing durable).
 */
static int
fk_sync(int fd, int data)
{
	const char	*name;
	char		 what[NAMELEN + 16];
	int		 rv = 0, e = 0, drop = 0, dir, fail = 0;

	pthread_mutex_lock(&fk.lock);
	dir = fd >= 0 && fd < MAXFD && fk.isdir[fd];
	name = fd >= 0 && fd < MAXFD ? fk.fdname[fd] : NULL;
	snprintf(what, sizeof what, "%s %s", data ? "fdatasync" : "fsync",
	    dir ? "." : name != NULL ? name : "?");
	fk_capture(what);
	if (fk_is_journal(fd)) {
		if (data && fk.fail_datasync > 0) {
			fk.fail_datasync--;
			fail = 1;
		} else if (!data && fk.fail_fsync) {
			fk.fail_fsync = 0;
			fail = 1;
		}
	}
	if (fail) {
		fk.nfaults++;
		fk.nsync++;
		pthread_mutex_unlock(&fk.lock);
		errno = EIO;
		return -1;
	}
	switch (fk.drop) {
	case DROP_NONE:
		break;
	case DROP_BATCH:
		if (data && name != NULL && strcmp(name, "journal") == 0 &&
		    ++fk.nbatch == 2)
			drop = 1;
		break;
	case DROP_DIRSYNC:
		if (dir && fk.renamed == 1) {
			fk.renamed = 2;
			drop = 1;
		}
		break;
	case DROP_NEWSYNC:
		drop = name != NULL && strcmp(name, "journal.new") == 0 &&
		    fk.nrename > 0;
		break;
	case DROP_CONFSYNC:
		drop = name != NULL && strcmp(name, "filed.ini.tmp") == 0;
		break;
	}
	if (drop)
		fk.dropped++;
	else {
		rv = data ? fk.real->fdatasync(fd) : fk.real->fsync(fd);
		e = errno;
		if (rv == 0 && dir) {
			while (fk.npend > 0) {
				fk_apply(fk.dur, &fk.ndur, &fk.pend[0]);
				memmove(&fk.pend[0], &fk.pend[1],
				    --fk.npend * sizeof fk.pend[0]);
			}
		} else if (rv == 0 && fd >= 0 && fd < MAXFD &&
		    fk.byfd[fd] != NULL)
			fk_read(fk.byfd[fd], fd);
	}
	fk.nsync++;
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return rv;
}

/* fdatasync through the backend. */
static int
fk_fdatasync(int fd)
{
	return fk_sync(fd, 1);
}

/* fsync through the backend (a file or the directory). */
static int
fk_fsync(int fd)
{
	return fk_sync(fd, 0);
}

/* rename: an unsynced directory operation. */
static int
fk_rename(const char *from, const char *to)
{
	struct dop	*d;
	const char	*a, *b;
	int		 rv, e;

	pthread_mutex_lock(&fk.lock);
	rv = fk.real->rename(from, to);
	e = errno;
	a = fk_name(from);
	b = fk_name(to);
	if (rv == 0 && a != NULL && b != NULL) {
		if (fk.npend == MAXPEND)
			fatalx("too many directory operations");
		d = &fk.pend[fk.npend++];
		d->type = DOP_RENAME;
		snprintf(d->name, NAMELEN, "%s", a);
		snprintf(d->to, NAMELEN, "%s", b);
		/* The first made the journal; the others compacted it. */
		if (strcmp(a, "journal.new") == 0 && fk.nrename++ == 1)
			fk.renamed = 1;
	}
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return rv;
}

/* unlink: an unsynced directory operation. */
static int
fk_unlink(const char *path)
{
	struct dop	*d;
	const char	*name;
	int		 rv, e;

	pthread_mutex_lock(&fk.lock);
	rv = fk.real->unlink(path);
	e = errno;
	if (rv == 0 && (name = fk_name(path)) != NULL) {
		if (fk.npend == MAXPEND)
			fatalx("too many directory operations");
		d = &fk.pend[fk.npend++];
		d->type = DOP_UNLINK;
		snprintf(d->name, NAMELEN, "%s", name);
	}
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return rv;
}

/* close: forget the descriptor. */
static int
fk_close(int fd)
{
	int	rv, e;

	pthread_mutex_lock(&fk.lock);
	if (fd >= 0 && fd < MAXFD) {
		fk.byfd[fd] = NULL;
		free(fk.fdname[fd]);
		fk.fdname[fd] = NULL;
		fk.isdir[fd] = 0;
	}
	rv = fk.real->close(fd);
	e = errno;
	pthread_mutex_unlock(&fk.lock);
	errno = e;
	return rv;
}

static const struct io_ops fk_ops = {
	.open = fk_open,
	.pwrite = fk_pwrite,
	.write = fk_write,
	.fdatasync = fk_fdatasync,
	.fsync = fk_fsync,
	.rename = fk_rename,
	.ftruncate = fk_ftruncate,
	.unlink = fk_unlink,
	.close = fk_close
};

/* The number of syncs done so far. */
static int
fk_syncs(void)
{
	int	n;

	pthread_mutex_lock(&fk.lock);
	n = fk.nsync;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

/* Forget everything the backend recorded. */
static void
fk_reset(void)
{
	struct fobj	*o;
	size_t		 i;
	int		 k;

	while ((o = fk.objs) != NULL) {
		fk.objs = o->next;
		free(o->dur);
		free(o->now);
		free(o->max);
		free(o);
	}
	for (i = 0; i < fk.nimg; i++) {
		for (k = 0; k < fk.img[i].nfiles; k++) {
			free(fk.img[i].f[k].data);
			free(fk.img[i].f[k].now);
			free(fk.img[i].f[k].max);
		}
	}
	free(fk.img);
	for (k = 0; k < MAXFD; k++)
		free(fk.fdname[k]);
	memset(&fk.byfd, 0, sizeof fk.byfd);
	memset(&fk.fdname, 0, sizeof fk.fdname);
	memset(&fk.isdir, 0, sizeof fk.isdir);
	fk.img = NULL;
	fk.nimg = fk.capimg = 0;
	fk.ndur = fk.npend = fk.nsync = 0;
	fk.nbatch = fk.renamed = fk.dropped = fk.nrename = 0;
	fk.track = fk.fail_datasync = fk.fail_write = 0;
	fk.fail_truncate = fk.fail_fsync = fk.nfaults = 0;
	fk.nacked = fk.nrefused = 0;
}

/* A small deterministic pseudo-random generator. */
static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/*
 * What a job shows, as one line; "absent" for none. A complete job shows
 * its last attempt only, and a finished one no process or retry time (the
 * queue keeps no more of them: job_settle).
 */
static char *
job_facts(const struct job *job)
{
	const struct job_live	*l = job != NULL ? job->live : NULL;
	struct attempt		 a;
	struct buf		 b;
	const char		*text;
	size_t			 i;
	int			 busy;

	if (job == NULL || job->gone || job->state == JOB_NEW)
		return xstrdup("absent");
	busy = l != NULL &&
	    (job->state == JOB_PENDING || job->state == JOB_ACTIVE);
	buf_init(&b);
	buf_printf(&b, "name=%s state=%s uid=%u gid=%u ctime=%lld "
	    "mtime=%lld retry_at=%lld pid=%d pst=%llu natt=%u", job->name,
	    queue_state_name(job->state), (unsigned)job->uid,
	    (unsigned)job->gid, (long long)job->ctime,
	    (long long)job->mtime, busy ? (long long)l->retry_at : 0,
	    busy ? (int)l->pid : 0, busy ? (unsigned long long)l->pst : 0,
	    job->natt);
	for (i = job->state == JOB_COMPLETE && job->natt > 0 ? job->natt : 1;
	    i <= job->natt; i++) {
		if (queue_attempt(job, (unsigned)i, &a) != 0) {
			buf_adds(&b, " [?]");
			continue;
		}
		buf_printf(&b, " [%lld %lld %llu %llu %d %d %d %d]",
		    (long long)a.started, (long long)a.ended,
		    (unsigned long long)a.off, (unsigned long long)a.end,
		    a.how, a.status, a.signal, a.eol);
	}
	for (i = 0; l != NULL && i < POL_NKEYS; i++) {
		if (!policy_has(l->policy, (int)i))
			continue;
		buf_printf(&b, " %s=", policy_name((int)i));
		policy_show(l->policy, (int)i, &b);
	}
	buf_adds(&b, " text=");
	text = queue_text(job);
	for (i = 0; i < job->textlen; i++) {
		if (text[i] == '\n')
			buf_adds(&b, "\\n");
		else
			buf_addc(&b, text[i]);
	}
	return b.data;
}

/* What a directory or file of the mount shows (not its mtime). */
static char *
node_facts(uint64_t ino)
{
	struct node	*n = queue_node(ino);

	return xasprintf("mode=%o uid=%u gid=%u", (unsigned)n->mode,
	    (unsigned)n->uid, (unsigned)n->gid);
}

/* What the settings are, as config.json shows them. */
static char *
conf_facts(const struct conf *c)
{
	char	*s, *p;

	s = conf_to_json(c);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\n')
			*p = ' ';
	}
	return s;
}

/* The facts of a key in the queue and settings now. */
static char *
facts_of(uint64_t key, const struct conf *c)
{
	if (key == KEY_CONF)
		return conf_facts(c);
	if (key >= KEY_NODE)
		return node_facts(key - KEY_NODE);
	return job_facts(queue_by_id(key));
}

/* The history of key, made if need be. */
static struct hist *
hist_get(uint64_t key)
{
	int	i;

	for (i = 0; i < w.nh; i++) {
		if (w.h[i].key == key)
			return &w.h[i];
	}
	if (w.nh == (int)(sizeof w.h / sizeof w.h[0]))
		fatalx("too many histories");
	w.h[w.nh].key = key;
	w.h[w.nh].n = 0;
	return &w.h[w.nh++];
}

/* key's change was acknowledged now: record what it shows. */
static void
hist_ack(uint64_t key, int ack)
{
	struct hist	*h = hist_get(key);

	if (h->n == MAXHIST)
		fatalx("history too long");
	h->ack[h->n] = ack;
	h->facts[h->n] = facts_of(key, &w.conf);
	h->n++;
}

/* A queue operation completed. */
static void
op_done(void *arg, int error)
{
	struct op	*o = arg;

	w.inflight--;
	if (error != 0) {
		w.errors++;
		printf("# op on %llu: %s\n", (unsigned long long)o->key,
		    strerror(-error));
	} else
		hist_ack(o->key, fk_syncs());
	free(o);
}

/*
 * A runner transition (start, end) is committed: the job has no record in
 * flight any more.
 */
static void
op_waited(void *arg)
{
	op_done(arg, 0);
}

/* An operation on key starts; op_done ends it. */
static struct op *
op_new(uint64_t key)
{
	struct op	*o;

	o = xmalloc(sizeof *o);
	o->key = key;
	w.inflight++;
	return o;
}

/* Close what the runner leaves open on the loop (its retry timer). */
static void
close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Run the loop until every operation completed and the journal is idle. */
static void
settle(void)
{
	while (w.inflight > 0 || !journal_idle(w.j))
		uv_run(&w.loop, UV_RUN_ONCE);
}

/* Create a job (or a draft) with text; return its id. */
static uint64_t
submit(const char *name, const char *text)
{
	struct job	*job;
	uint64_t	 id;

	if (queue_new(name, getuid(), getgid(), 0, &job) != 0)
		fatalx("queue_new %s", name);
	job->held = 0;		/* as if its creator closed it at once */
	id = job->id;
	if (hist_get(id)->n == 0) {
		hist_get(id)->ack[0] = -1;
		hist_get(id)->facts[0] = xstrdup("absent");
		hist_get(id)->n = 1;
	}
	queue_submit(job, text, strlen(text), 0, op_done, op_new(id));
	return id;
}

/* Rename a draft or queued job. */
static void
rename_job(uint64_t id, const char *name)
{
	if (queue_rename(queue_by_id(id), name, NULL, op_done,
	    op_new(id)) != 0)
		fatalx("queue_rename %s", name);
}

/* Remove a job. */
static void
remove_job(uint64_t id)
{
	if (queue_remove(queue_by_id(id), op_done, op_new(id)) != 0)
		fatalx("queue_remove");
}

/* Record the start of a job's next attempt, as run.c would. */
static void
start_job(uint64_t id)
{
	struct job	*job = queue_by_id(id);

	queue_started(job, 4000 + (pid_t)id, 900 + id, 0);
	queue_wait(job, op_waited, op_new(id));
}

/* Record the end of a job's attempt and where it goes next. */
static void
end_job(uint64_t id, int status, int next, int64_t retry_at)
{
	struct job	*job = queue_by_id(id);
	struct attempt	 a;

	memset(&a, 0, sizeof a);
	a.how = HOW_EXIT;
	a.status = status;
	a.end = 10 * job->natt;
	a.eol = 1;
	queue_ended(job, &a, next, retry_at);
	queue_wait(job, op_waited, op_new(id));
}

/* chmod a directory of the mount. */
static void
chmod_node(uint64_t ino, mode_t mode)
{
	if (queue_set_node(ino, mode, getuid(), getgid(), op_done,
	    op_new(KEY_NODE + ino)) != 0)
		fatalx("queue_set_node");
}

/* Set key k of a draft's or failed job's policy, or remove it (NULL). */
static void
policy_job(uint64_t id, int k, const char *val)
{
	if (queue_set_policy(queue_by_id(id), k, val, op_done,
	    op_new(id)) != 0)
		fatalx("queue_set_policy");
}

/* Save the settings with max_retries n, as a write to config.json does. */
static void
save_conf(long n)
{
	char	*cause;

	w.conf.max_retries = n;
	if (conf_save(w.conf_path, &w.conf, &cause) != 0)
		fatalx("conf_save: %s", cause);
	hist_ack(KEY_CONF, fk_syncs());
}

/*
 * The workload, through the fake backend, in a fresh state directory.
 * Returns the number of operations that failed (none should).
 */
static int
workload(void)
{
	uint64_t	 a, b, c, d1, d2, e, n[12];
	char		*cause, *path, name[32];
	int		 i;

	w.statedir = xasprintf("%s/state", tmpdir);
	if (mkdir(w.statedir, 0700) == -1)
		fatal("mkdir %s", w.statedir);
	w.conf_path = xasprintf("%s/filed.ini", w.statedir);
	fk.dir = w.statedir;
	fk.dirlen = strlen(w.statedir);
	io_set_ops(&fk_ops);

	/* The settings are made, then the journal, as at a first start. */
	if (conf_load(w.conf_path, &w.conf, &cause) != 0)
		fatalx("conf_load: %s", cause);
	hist_get(KEY_CONF)->ack[0] = -1;
	hist_get(KEY_CONF)->facts[0] = conf_facts(&w.conf);
	hist_get(KEY_CONF)->n = 1;
	queue_init(MAXLINE);
	for (i = INO_PENDING; i < INO_NFIXED; i++) {
		hist_get(KEY_NODE + i)->ack[0] = -1;
		hist_get(KEY_NODE + i)->facts[0] = node_facts(i);
		hist_get(KEY_NODE + i)->n = 1;
	}
	path = xasprintf("%s/journal", w.statedir);
	w.j = journal_open(path, MAXLINE, queue_replay, NULL, &cause);
	free(path);
	if (w.j == NULL)
		fatalx("journal_open: %s", cause);
	uv_loop_init(&w.loop);
	journal_attach(w.j, &w.loop);
	journal_set_snapshot(w.j, queue_snapshot, NULL);
	journal_set_compact_min(w.j, 256);
	queue_set_journal(w.j);
	/* The runner is there, but starts nothing: attempts are scripted. */
	run_init(&w.loop, w.statedir, &w.conf);
	run_stop_all(0);

	/* New jobs and drafts at once: group commit. */
	a = submit("a", "echo a");
	b = submit("b", "#!/bin/sh\nexit 0\n");
	c = submit("c", "sleep 1");
	d1 = submit(".d1", "draft one");
	d2 = submit(".d2", "draft two");
	e = submit("e b", "text with\ttab and \\ backslash");
	settle();

	/* A policy on drafts, one queued with it by losing its dot. */
	policy_job(d1, POL_TIMEOUT, "30");
	policy_job(d2, POL_PRIORITY, "5");
	settle();
	policy_job(d2, POL_AFTER, "2");	/* after b */
	settle();

	/* chmod and renames, one queued by losing its dot. */
	chmod_node(INO_PENDING, 01770);
	rename_job(d1, ".d1x");
	rename_job(d2, "d2");
	settle();

	/* Attempts start; a job goes. */
	start_job(a);
	start_job(b);
	remove_job(e);
	settle();

	/* a exits 1 and is retried at once; b completes. */
	end_job(a, 1, JOB_PENDING, 0);
	end_job(b, 0, JOB_COMPLETE, 0);
	save_conf(7);
	settle();

	/* a's second attempt fails and waits an hour; c starts. */
	start_job(a);
	start_job(c);
	settle();
	end_job(a, 2, JOB_PENDING, util_now() + 3600 * 1000000000LL);
	chmod_node(INO_FAILED, 0700);
	journal_compact(w.j);
	rename_job(d1, ".d1y");
	settle();

	/* c fails for good, and gets a policy; d2 runs and completes. */
	end_job(c, 3, JOB_FAILED, 0);
	start_job(d2);
	settle();
	policy_job(c, POL_MAX_RETRIES, "5");
	policy_job(d1, POL_TIMEOUT, NULL);
	settle();
	end_job(d2, 0, JOB_COMPLETE, 0);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "n%d", i);
		n[i] = submit(name, i % 2 ? "true" : "false\nfalse\n");
		if (i > 0)
			remove_job(n[i - 1]);
		if (i % 4 == 3) {
			snprintf(name, sizeof name, ".d1-%d", i);
			rename_job(d1, name);
		}
		if (i == 6)
			save_conf(9);
		if (i == 8)
			chmod_node(INO_PENDING, 0750);
		settle();
	}
	remove_job(a);
	settle();

	/* A crash after everything. */
	pthread_mutex_lock(&fk.lock);
	fk_capture("end");
	pthread_mutex_unlock(&fk.lock);

	run_shutdown();
	journal_close(w.j);
	w.j = NULL;
	uv_walk(&w.loop, close_handle, NULL);
	uv_run(&w.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w.loop) != 0)
		fatalx("uv_loop_close: handles left");
	queue_free();
	io_set_ops(NULL);
	return w.errors;
}

/* Remove every file in dir. */
static void
empty_dir(const char *dir)
{
	DIR		*dp;
	struct dirent	*de;
	char		*path;

	if ((dp = opendir(dir)) == NULL)
		fatal("opendir %s", dir);
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(path) == -1)
			fatal("unlink %s", path);
		free(path);
	}
	closedir(dp);
}

/*
 * Write an image's files into dir, the unsynced part of each as tail says:
 * cut off, garbage, or (for a tracked file) its contents now or the
 * longest they were since its last sync.
 */
static void
materialize(const struct image *im, const char *dir, enum tail tail)
{
	const struct ifile	*f;
	const char		*data;
	char			*path, *g;
	size_t			 i, k, len;
	int			 fd;

	empty_dir(dir);
	for (i = 0; i < (size_t)im->nfiles; i++) {
		f = &im->f[i];
		data = f->data;
		len = f->len;
		if (tail == TAIL_NOW && f->now != NULL) {
			data = f->now;
			len = f->nowlen;
		} else if (tail == TAIL_MAX && f->max != NULL) {
			data = f->max;
			len = f->maxlen;
		}
		path = xasprintf("%s/%s", dir, im->f[i].name);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
			fatal("open %s", path);
		if (len > 0 && write(fd, data, len) != (ssize_t)len)
			fatal("write %s", path);
		if (tail == TAIL_GARBAGE && im->f[i].extra > 0) {
			g = xmalloc(im->f[i].extra);
			for (k = 0; k < im->f[i].extra; k++) {
				g[k] = (char)(rnd() % 23 == 0 ? '\n' :
				    rnd() & 0xff);
			}
			if (write(fd, g, im->f[i].extra) !=
			    (ssize_t)im->f[i].extra)
				fatal("write %s", path);
			free(g);
		}
		close(fd);
		free(path);
	}
}

/* Print an image's files as TAP comments, escaped. */
static void
dump_image(const struct image *im)
{
	const char	*p;
	size_t		 i, k;

	printf("# image at crash point %d (%d syncs done), %d of %d "
	    "directory operations kept:\n", im->point, im->done, im->prefix,
	    im->npend);
	for (i = 0; i < (size_t)im->nfiles; i++) {
		printf("#   %s: %zu synced bytes, %zu unsynced\n#     ",
		    im->f[i].name, im->f[i].len, im->f[i].extra);
		p = im->f[i].data;
		for (k = 0; k < im->f[i].len && k < 4096; k++) {
			if (p[k] == '\n')
				printf("\n#     ");
			else
				putchar(p[k]);
		}
		printf("\n");
	}
}

/*
 * Replay one image and check it: it opens, every acknowledged change is
 * there, no job is there that was never submitted. Return 0 or -1 with
 * the reason in why (caller frees).
 */
static int
check_image(const struct image *im, const char *dir, int garbage, char **why)
{
	struct journal	*j;
	struct conf	 c;
	struct hist	*h;
	struct job	*job;
	char		*path, *cause, *got;
	uint64_t	 d;
	int		 i, m, req, rv = 0;

	*why = NULL;
	materialize(im, dir, garbage ? TAIL_GARBAGE : TAIL_CUT);
	queue_init(MAXLINE);
	path = xasprintf("%s/journal", dir);
	j = journal_open(path, MAXLINE, queue_replay, NULL, &cause);
	free(path);
	if (j == NULL) {
		*why = xasprintf("journal_open refused: %s", cause);
		free(cause);
		queue_free();
		return -1;
	}
	path = xasprintf("%s/filed.ini", dir);
	if (conf_load(path, &c, &cause) != 0) {
		*why = xasprintf("conf_load refused: %s", cause);
		free(cause);
		free(path);
		rv = -1;
		goto out;
	}
	free(path);

	/* I1: each key shows its last acknowledged state or a later one. */
	for (i = 0; i < w.nh && rv == 0; i++) {
		h = &w.h[i];
		for (req = 0, m = 0; m < h->n; m++) {
			if (h->ack[m] <= im->done)
				req = m;
		}
		got = facts_of(h->key, &c);
		for (m = req; m < h->n; m++) {
			if (strcmp(got, h->facts[m]) == 0)
				break;
		}
		if (m == h->n) {
			*why = xasprintf("key %llu shows {%s}, but {%s} was "
			    "acknowledged after %d syncs",
			    (unsigned long long)h->key, got, h->facts[req],
			    h->ack[req]);
			rv = -1;
		}
		free(got);
	}

	/* I2: no phantom jobs. */
	for (d = INO_PENDING; d <= INO_COMPLETE && rv == 0; d++) {
		TAILQ_FOREACH(job, queue_dir_jobs(d), all) {
			for (i = 0; i < w.nh; i++) {
				if (w.h[i].key == job->id)
					break;
			}
			if (i == w.nh) {
				*why = xasprintf("job %llu '%s' was never "
				    "submitted", (unsigned long long)job->id,
				    job->name);
				rv = -1;
				break;
			}
		}
	}
out:
	journal_close(j);
	queue_free();
	return rv;
}

/*
 * Check every image in both variants; return the number that fail,
 * printing the first few (all of them if verbose).
 */
static int
check_all(int verbose, int *nchecked)
{
	char	*dir, *why;
	size_t	 i;
	int	 garbage, failed = 0;

	dir = xasprintf("%s/img", tmpdir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	*nchecked = 0;
	for (i = 0; i < fk.nimg; i++) {
		for (garbage = 0; garbage < 2; garbage++) {
			(*nchecked)++;
			if (check_image(&fk.img[i], dir, garbage, &why) == 0)
				continue;
			failed++;
			if (failed <= (verbose ? 5 : 1)) {
				printf("# crash point %d, %d of %d dir ops, "
				    "%s tail: %s\n", fk.img[i].point,
				    fk.img[i].prefix, fk.img[i].npend,
				    garbage ? "garbage" : "cut", why);
				if (verbose)
					dump_image(&fk.img[i]);
			}
			free(why);
		}
	}
	empty_dir(dir);
	rmdir(dir);
	free(dir);
	return failed;
}

/* Forget the workload's histories and remove its state directory. */
static void
reset(void)
{
	char	*logs;
	int	 i, m;

	for (i = 0; i < w.nh; i++) {
		for (m = 0; m < w.h[i].n; m++)
			free(w.h[i].facts[m]);
	}
	w.nh = 0;
	w.errors = 0;
	fk_reset();
	if (w.statedir != NULL) {
		logs = xasprintf("%s/output", w.statedir);
		empty_dir(logs);
		rmdir(logs);
		free(logs);
		empty_dir(w.statedir);
		rmdir(w.statedir);
	}
	free(w.statedir);
	free(w.conf_path);
	w.statedir = w.conf_path = NULL;
}

/*
 * Failed batches: the journal alone, with records "set k=KEY" and no
 * queue. Three records commit; then one batch of two (ghost1, ghost2)
 * fails, at its fdatasync or midway through its write; then, once the
 * journal takes changes again, ok4 commits. The backend tracks what
 * writeback may have put on the disk, and the callbacks count their
 * answers (under the backend's lock) into every crash image, so each
 * image knows what had been acknowledged and what refused when it was
 * taken. A crash image is also taken inside each refusing callback: a
 * power loss at the instant the error is being answered.
 */
enum fb_fault {
	FB_SYNC,		/* the batch's fdatasync fails */
	FB_WRITE		/* its write stops after one record */
};

/* What else fails: nothing, or the cut that should follow. */
enum fb_cut {
	FB_CUT_OK,
	FB_CUT_TRUNCATE,	/* the ftruncate that cuts the batch off */
	FB_CUT_FSYNC		/* the fsync that makes the cut durable */
};

#define FB_NKEY		6
static const char *const fb_keys[FB_NKEY] = {
	"ok1", "ok2", "ok3", "ghost1", "ghost2", "ok4"
};

static struct {
	uv_loop_t	 loop;
	struct journal	*j;
	int		 inflight;
	int		 acked[FB_NKEY];	/* key indexes, as answered */
	int		 nacked;
	int		 refused[FB_NKEY];
	int		 errors[FB_NKEY];
	int		 nrefused;
	int		 answer_fd;	/* a child's answers go here, or -1 */
} fb = { .answer_fd = -1 };

static void	 fb_body(struct buf *, int);
static int	 fb_apply(void *, struct rec *, const char **);
static void	 fb_snapshot(void *, struct buf *);
static void	 fb_done(void *, int);
static void	 fb_append(int);
static void	 fb_settle(void);
static char	*fb_statedir(void);
static void	 fb_workload(enum fb_fault, enum fb_cut);
static void	 fb_cleanup(void);
static int	 fb_replay(const struct image *, enum tail, const char *,
		    struct buf *);
static int	 fb_has(const struct buf *, int);
static int	 fb_known(const struct buf *);
static char	*slurp_file(const char *, size_t *);
static void	 fb_test(enum fb_fault);
static void	 fb_test_abort(enum fb_fault, enum fb_cut);

/* The body of the record of key k. */
static void
fb_body(struct buf *b, int k)
{
	buf_reset(b);
	rec_begin(b, "set");
	rec_add_str(b, "k", fb_keys[k]);
}

/* Replay callback: append the record's key, then a space, to a buffer. */
static int
fb_apply(void *arg, struct rec *r, const char **why)
{
	struct buf	*keys = arg;
	const char	*k;

	if ((k = rec_get(r, "k", NULL)) == NULL) {
		*why = "no key";
		return -1;
	}
	buf_adds(keys, k);
	buf_addc(keys, ' ');
	return 0;
}

/* Snapshot callback: the acknowledged records, for a compaction. */
static void
fb_snapshot(void *arg, struct buf *out)
{
	struct buf	b;
	int		i;

	buf_init(&b);
	for (i = 0; i < fb.nacked; i++) {
		fb_body(&b, fb.acked[i]);
		buf_add(out, b.data, b.len);
		buf_addc(out, '\n');
	}
	buf_free(&b);
}

/*
 * Commit callback: count the answer, where the crash images see it; a
 * refusal also takes an image, the power lost as it is answered.
 */
static void
fb_done(void *arg, int error)
{
	int	k = (int)(intptr_t)arg;
	char	c = error == 0 ? '+' : '-';

	pthread_mutex_lock(&fk.lock);
	if (error == 0) {
		fb.acked[fb.nacked++] = k;
		fk.nacked++;
	} else {
		fb.refused[fb.nrefused] = k;
		fb.errors[fb.nrefused++] = error;
		fk.nrefused++;
		fk_capture("callback");
	}
	pthread_mutex_unlock(&fk.lock);
	if (fb.answer_fd != -1 && write(fb.answer_fd, &c, 1) != 1)
		_exit(99);
	fb.inflight--;
}

/* Append the record of key k. */
static void
fb_append(int k)
{
	struct buf	b;

	buf_init(&b);
	fb_body(&b, k);
	fb.inflight++;
	journal_append(fb.j, b.data, b.len, fb_done, (void *)(intptr_t)k);
	buf_free(&b);
}

/* Run the loop until every record is answered and the journal is idle. */
static void
fb_settle(void)
{
	while (fb.inflight > 0 || !journal_idle(fb.j))
		uv_run(&fb.loop, UV_RUN_ONCE);
}

/* The failed-batch tests' state directory (caller frees). */
static char *
fb_statedir(void)
{
	return xasprintf("%s/fb", tmpdir);
}

/*
 * Run the failed-batch workload through the backend in a fresh state
 * directory: ok1, ok2, ok3; the batch ghost1 ghost2 failing as fault
 * says, and its cut as cut says; ok4. Takes a last image at the end.
 */
static void
fb_workload(enum fb_fault fault, enum fb_cut cut)
{
	struct buf	 none;
	char		*path, *cause;

	fk.dir = fb_statedir();
	fk.dirlen = strlen(fk.dir);
	if (mkdir(fk.dir, 0700) == -1)
		fatal("mkdir %s", fk.dir);
	fk.track = 1;
	io_set_ops(&fk_ops);
	fb.inflight = fb.nacked = fb.nrefused = 0;

	buf_init(&none);
	path = xasprintf("%s/journal", fk.dir);
	fb.j = journal_open(path, MAXLINE, fb_apply, &none, &cause);
	free(path);
	buf_free(&none);
	if (fb.j == NULL)
		fatalx("journal_open: %s", cause);
	uv_loop_init(&fb.loop);
	journal_attach(fb.j, &fb.loop);
	journal_set_snapshot(fb.j, fb_snapshot, NULL);

	fb_append(0);
	fb_append(1);
	fb_settle();
	fb_append(2);
	fb_settle();

	pthread_mutex_lock(&fk.lock);
	if (fault == FB_SYNC)
		fk.fail_datasync = 1;
	else
		fk.fail_write = 1;
	fk.fail_truncate = cut == FB_CUT_TRUNCATE;
	fk.fail_fsync = cut == FB_CUT_FSYNC;
	pthread_mutex_unlock(&fk.lock);
	journal_cork(fb.j);
	fb_append(3);
	fb_append(4);
	journal_uncork(fb.j);
	fb_settle();

	fb_append(5);
	fb_settle();

	pthread_mutex_lock(&fk.lock);
	fk_capture("end");
	pthread_mutex_unlock(&fk.lock);
	journal_close(fb.j);
	fb.j = NULL;
	if (uv_loop_close(&fb.loop) != 0)
		fatalx("uv_loop_close: handles left");
	io_set_ops(NULL);
}

/* Forget the failed-batch workload and remove its state directory. */
static void
fb_cleanup(void)
{
	char	*dir = fb_statedir();

	fk_reset();
	empty_dir(dir);
	rmdir(dir);
	free(dir);
	free(fk.dir);
	fk.dir = NULL;
}

/*
 * Replay an image, its unsynced parts as tail says, in dir: the keys of
 * its records in keys, 0; or -1 if journal_open refused (printed).
 */
static int
fb_replay(const struct image *im, enum tail tail, const char *dir,
    struct buf *keys)
{
	struct journal	*j;
	char		*path, *cause;

	materialize(im, dir, tail);
	buf_reset(keys);
	buf_addc(keys, ' ');
	path = xasprintf("%s/journal", dir);
	j = journal_open(path, MAXLINE, fb_apply, keys, &cause);
	free(path);
	if (j == NULL) {
		printf("# image before %s, tail %d: %s\n", im->what,
		    (int)tail, cause);
		free(cause);
		return -1;
	}
	journal_close(j);
	buf_addc(keys, '\0');
	return 0;
}

/* Return 1 if the replayed keys hold key k. */
static int
fb_has(const struct buf *keys, int k)
{
	char	word[32];

	snprintf(word, sizeof word, " %s ", fb_keys[k]);
	return strstr(keys->data, word) != NULL;
}

/* Return 1 if every replayed key is one the workload appends. */
static int
fb_known(const struct buf *keys)
{
	const char	*p = keys->data, *end;
	size_t		 len;
	int		 k;

	for (;;) {
		p += strspn(p, " ");
		if (*p == '\0')
			return 1;
		end = p + strcspn(p, " ");
		len = (size_t)(end - p);
		for (k = 0; k < FB_NKEY; k++) {
			if (strlen(fb_keys[k]) == len &&
			    memcmp(fb_keys[k], p, len) == 0)
				break;
		}
		if (k == FB_NKEY)
			return 0;
		p = end;
	}
}

/* The contents of path, NUL-terminated (caller frees), or NULL. */
static char *
slurp_file(const char *path, size_t *lenp)
{
	char	*data;
	ssize_t	 n;
	size_t	 len = 0, cap = 4096;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	data = xmalloc(cap);
	while ((n = read(fd, data + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len == cap - 1) {
			cap *= 2;
			data = xreallocarray(data, 1, cap);
		}
	}
	close(fd);
	data[len] = '\0';
	*lenp = len;
	return data;
}

/*
 * A batch fails (fault): its requests get the error only once it has been
 * cut back out of the journal durably, and from then on no crash can
 * bring its records back.
 */
static void
fb_test(enum fb_fault fault)
{
	const char	*what = fault == FB_SYNC ? "fdatasync" : "write";
	struct image	*im;
	struct buf	 keys;
	char		*dir;
	size_t		 i;
	int		 t, k, n = 0, bad = 0, before = 0, ncut = 0, cutbad = 0;
	int		 ncb = 0, cbbad = 0, err;

	fb_workload(fault, FB_CUT_OK);
	err = fault == FB_SYNC ? -EIO : -ENOSPC;
	ok(fk.nfaults == (fault == FB_SYNC ? 1 : 2) && fb.nacked == 4 &&
	    fb.acked[0] == 0 && fb.acked[1] == 1 && fb.acked[2] == 2 &&
	    fb.acked[3] == 5 && fb.nrefused == 2 && fb.refused[0] == 3 &&
	    fb.refused[1] == 4 && fb.errors[0] == err && fb.errors[1] == err,
	    "failed %s: ok1-ok3 acknowledged; ghost1 and ghost2 refused with "
	    "%s; ok4, after them, acknowledged", what,
	    fault == FB_SYNC ? "EIO" : "ENOSPC");

	dir = xasprintf("%s/fbimg", tmpdir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	buf_init(&keys);
	for (i = 0; i < fk.nimg; i++) {
		im = &fk.img[i];
		if (strcmp(im->what, "fsync journal") == 0) {
			ncut++;
			cutbad += im->nrefused != 0;
		}
		for (t = 0; t < TAIL_NVARIANTS; t++) {
			n++;
			if (fb_replay(im, (enum tail)t, dir, &keys) != 0) {
				bad++;
				continue;
			}
			/* What was acknowledged is there. */
			for (k = 0; k < im->nacked; k++) {
				if (!fb_has(&keys, fb.acked[k]))
					break;
			}
			/* What was refused is not, nor anything unknown. */
			if (k == im->nacked) {
				for (k = 0; k < im->nrefused; k++) {
					if (fb_has(&keys, fb.refused[k]))
						break;
				}
				if (k == im->nrefused)
					k = -1;
			}
			if (k != -1 || !fb_known(&keys)) {
				if (bad++ < 3)
					printf("# image before %s (%d "
					    "acknowledged, %d refused), tail "
					    "%d, replays:%s\n", im->what,
					    im->nacked, im->nrefused, t,
					    keys.data);
				continue;
			}
			if (strcmp(im->what, "callback") == 0) {
				ncb++;
				if (strcmp(keys.data, " ok1 ok2 ok3 ") != 0) {
					cbbad++;
					printf("# at the answer, tail %d "
					    "replays:%s\n", t, keys.data);
				}
			}
			if (im->nrefused == 0 && fb_has(&keys, 3))
				before++;
		}
	}
	ok(ncut > 0 && cutbad == 0, "failed %s: the cut is fsync'd before "
	    "any refusal is answered (%d crash images just before that "
	    "fsync)", what, ncut);
	ok(ncb == 2 * TAIL_NVARIANTS && cbbad == 0, "failed %s: a power loss "
	    "as each refusal is answered replays exactly ok1 ok2 ok3, "
	    "whatever of the unsynced writes reached the disk", what);
	ok(n > 0 && bad == 0, "failed %s: %zu crash images, each with its "
	    "unsynced tails cut, garbage, as now, or as long as they were "
	    "since the last sync (%d replays), hold every acknowledged record "
	    "and no refused one", what, fk.nimg, n);
	ok(before > 0, "failed %s: %d images from before the answer hold "
	    "ghost1, which nobody had been told about yet (writeback is "
	    "modelled)", what, before);
	buf_free(&keys);
	empty_dir(dir);
	rmdir(dir);
	free(dir);
	fb_cleanup();
}

/*
 * The batch fails (fault) and so does its cut (cut): in a child, which
 * must exit with JOURNAL_EXIT without answering the refused records, and
 * log why, naming the journal and the error.
 */
static void
fb_test_abort(enum fb_fault fault, enum fb_cut cut)
{
	const char	*call = cut == FB_CUT_TRUNCATE ? "ftruncate" : "fsync";
	char		*errpath, *dir, *log, *want, answers[64];
	size_t		 len, got = 0;
	ssize_t		 r;
	pid_t		 pid;
	int		 p[2], status, fd;

	dir = fb_statedir();
	errpath = xasprintf("%s/fb-child.err", tmpdir);
	if (pipe(p) == -1)
		fatal("pipe");
	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(p[0]);
		fb.answer_fd = p[1];
		if ((fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC,
		    0600)) == -1 || dup2(fd, STDERR_FILENO) == -1)
			_exit(98);
		alarm(60);
		fb_workload(fault, cut);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof answers - 1 &&
	    (r = read(p[0], answers + got, sizeof answers - 1 - got)) > 0)
		got += (size_t)r;
	answers[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");

	ok(WIFEXITED(status) && WEXITSTATUS(status) == JOURNAL_EXIT,
	    "failed %s, then failed %s of the cut: filed exits with status "
	    "%d (status %d)", fault == FB_SYNC ? "fdatasync" : "write", call,
	    JOURNAL_EXIT, WIFEXITED(status) ? WEXITSTATUS(status) :
	    -WTERMSIG(status));
	is_str(answers, "+++", "and answers no refusal: only ok1-ok3 were "
	    "answered, with success");
	log = slurp_file(errpath, &len);
	want = xasprintf("journal: %s/journal: %s: i/o error (EIO) while "
	    "cutting back 2 refused records", dir, call);
	ok(log != NULL && strstr(log, want) != NULL, "it logs why, naming "
	    "the journal and the error");
	if (log != NULL && strstr(log, want) == NULL)
		printf("# log: %s", log);
	free(log);
	free(want);
	unlink(errpath);
	free(errpath);
	empty_dir(dir);
	rmdir(dir);
	free(dir);
}

int
main(void)
{
	static const struct {
		enum drop	 drop;
		const char	*what;
	} faults[] = {
		{ DROP_BATCH, "a journal batch's fdatasync" },
		{ DROP_DIRSYNC,
		    "the directory fsync after compaction's rename" },
		{ DROP_NEWSYNC, "the syncs of journal.new before its rename" },
		{ DROP_CONFSYNC, "the fsync of filed.ini.tmp" }
	};
	size_t	i;
	int	errors, failed, n, points;

	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	pthread_mutex_init(&fk.lock, NULL);
	fk.real = io_real_ops();

	/* Failed batches, and failed cuts (first: fork before any thread). */
	fb_test_abort(FB_SYNC, FB_CUT_TRUNCATE);
	fb_test_abort(FB_SYNC, FB_CUT_FSYNC);
	fb_test_abort(FB_WRITE, FB_CUT_TRUNCATE);
	fb_test(FB_SYNC);
	fb_test(FB_WRITE);

	errors = workload();
	ok(errors == 0, "the workload ran without an error");
	points = fk.nsync + 1;
	ok(fk.nsync >= 40 && fk.nrename >= 4, "it made %d syncs and %d "
	    "compactions", fk.nsync, fk.nrename - 1);
	failed = check_all(1, &n);
	ok(failed == 0, "%d crash images from %d crash points (each prefix "
	    "of the unsynced directory operations, tails cut or garbage) "
	    "open with every acknowledged change and no phantom job", n,
	    points);
	if (failed != 0)
		printf("# %d images failed\n", failed);
	reset();

	/* The harness must see a missing sync: it can fail. */
	for (i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		fk.drop = faults[i].drop;
		errors = workload();
		failed = check_all(0, &n);
		ok(errors == 0 && fk.dropped > 0 && failed > 0,
		    "without %s, %d of %d images lose an acknowledged change "
		    "or refuse to start",
		    faults[i].what, failed, n);
		reset();
	}
	fk.drop = DROP_NONE;

	rmdir(tmpdir);
	pthread_mutex_destroy(&fk.lock);
	return tap_done();
}
