/*
 * journal.c: the append-only journal (STATEDIR/journal), its replay at
 * startup and its group commit.
 *
 * - The file is "filed-journal 1\n" then one record per line (rec.c), with
 *   contiguous sequence numbers. Everything up to the committed offset has
 *   been fdatasync'd; nothing after it has ever been acknowledged, and no
 *   record answered with an error is left after it: a failed batch is cut
 *   back, durably, before its requests hear of it, and filed exits rather
 *   than answer them if the cut fails (journal_cut).
 * - Replay (journal_open) runs before the loop, with plain blocking I/O,
 *   streaming through a buffer that never grows past max_line plus a read
 *   chunk. A damaged line with no valid record after it is a torn tail and
 *   is cut off; damage with valid records after it refuses to start, and
 *   the file is left exactly as it was.
 * - Appends (journal_append) are group-committed: while one batch is being
 *   written and fdatasync'd on libuv's thread pool, new records queue; when
 *   it completes, the whole queue goes out as the next batch with one write
 *   and one fdatasync. A record that arrives when nothing is in flight goes
 *   out at once. The loop thread never calls write or fsync itself.
 * - Callbacks always run on the loop thread from a libuv completion, never
 *   from inside journal_append, and in the order the records were appended.
 * - Compaction replaces the journal with the live state: the snapshot
 *   callback's records (seqs from 1) are written to PATH.new and synced
 *   while batches go on into the old journal; the records committed
 *   meanwhile (the tail) are appended to PATH.new with batches held back,
 *   then PATH.new is synced, renamed over PATH and the directory fsync'd,
 *   and only then do batches resume, on the new file. PATH.new is complete
 *   only once it has been renamed, so journal_open removes one it finds: at
 *   every step a crash leaves PATH either the old or the new journal, each
 *   complete.
 * - The snapshot is taken by a child: fork() gives it a copy-on-write image
 *   of the state as of the last committed record, and it writes the
 *   framed snapshot to a memfd and its result (records, bytes, or an errno)
 *   to a pipe, then _exits. The loop watches the pipe with a uv_poll; at
 *   its end it reaps the child by its pid (wait4: run.c reaps its own
 *   children by pid too, libuv only those of uv_spawn, and filed is no
 *   subreaper, so nothing else takes it), maps the memfd and writes it to
 *   PATH.new from the thread pool. The records committed from the fork on
 *   are the tail, as before. Building the snapshot of a million jobs takes
 *   one to two seconds of CPU, which the loop would otherwise spend without
 *   answering FUSE; the fork costs the loop the copy of the page tables
 *   (15 ms at a million jobs), and the parent's first write to each page
 *   afterwards a copy of it. The other way, a snapshot built on the loop
 *   in bounded chunks, would have to capture each job as it was at the
 *   snapshot's seq although it may change before its chunk is written:
 *   more state and code in queue.c than the fork, which gets that for
 *   free from the kernel. The child touches neither libuv nor /dev/fuse
 *   (it inherits their descriptors and closes them by exiting), blocks
 *   signals (libuv's handlers would write to the parent's signal pipe),
 *   dies with its parent (PR_SET_PDEATHSIG), and leaves by _exit, so no
 *   atexit handler, stdio buffer or LeakSanitizer runs in it. Writing
 *   PATH.new stays in the parent, through io.c. A child that fails or dies
 *   is a failed compaction: PATH is the old journal, untouched.
 * - The journal counts what it does (records, batches, bytes, failures,
 *   compactions) and times each fdatasync, from its submission to its
 *   completion on the loop, with uv_hrtime: the time a commit waits for
 *   the disk, queueing on the thread pool included. journal_counters()
 *   hands these to stats.c; counting adds a few additions and two clock
 *   reads to a batch, nothing to a record.
 * - Every open, write, sync, rename, truncate, unlink and close of the
 *   journal's files goes through io.c (io_* blocking, io_fs_* on the
 *   thread pool), so that t/unit-crash.c can simulate a power loss at each
 *   sync; only the reads of replay are plain read(2).
 */

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

#define JOURNAL_HEADER		"filed-journal 3\n"
#define JOURNAL_HEADER_LEN	(sizeof JOURNAL_HEADER - 1)
#define JOURNAL_VERSION		3
#define JOURNAL_HEADER_V1	"filed-journal 1\n"	/* same length */
#define JOURNAL_HEADER_V2	"filed-journal 2\n"	/* same length */
#define JOURNAL_VERSION_OFF	(JOURNAL_HEADER_LEN - 2)
#define JOURNAL_MAGIC		"filed-journal "
#define JOURNAL_MIN_LINE	64
#define JOURNAL_CHUNK		65536
#define JOURNAL_BATCH_MAX	(64 * 1024 * 1024)
#define JOURNAL_COMPACT_MIN	(4 * 1024 * 1024)
#define JOURNAL_WRITE_MAX	(1024 * 1024 * 1024)
#define JOURNAL_SNAP_FLUSH	(1024 * 1024)	/* child's writes to memory */

/* What the snapshot's child tells its parent through a pipe. */
struct journal_snap {
	int			 error;		/* an errno, or 0 */
	uint64_t		 nsnap;		/* records written */
	uint64_t		 len;		/* bytes, the header included */
	uint64_t		 toolong;	/* with EFBIG: the record's length */
};

/* A record waiting for, or part of, a batch. */
struct jentry {
	TAILQ_ENTRY(jentry)	 entry;
	journal_done_cb		 cb;
	void			*arg;
	int			 error;		/* its own error (-EFBIG) */
	int			 lazy;		/* starts no batch by itself */
	size_t			 len;
	char			 body[];
};
TAILQ_HEAD(jentries, jentry);

enum jstate {
	JOURNAL_IDLE,		/* nothing in flight */
	JOURNAL_WRITE,		/* batch being written */
	JOURNAL_SYNC,		/* batch being fdatasync'd */
	JOURNAL_CUT,		/* failed batch being cut back */
	JOURNAL_CUT_SYNC,	/* and the cut fsync'd */
	JOURNAL_BOUNCE,		/* batch being failed without I/O */
	JOURNAL_DONE		/* batch callbacks running */
};

enum cstate {
	COMPACT_NONE,		/* no compaction */
	COMPACT_CHILD,		/* a child writing the snapshot to memory */
	COMPACT_OPEN,		/* PATH.new being created */
	COMPACT_SNAP_WRITE,	/* header and snapshot being written */
	COMPACT_SNAP_SYNC,	/* and fdatasync'd */
	COMPACT_WAIT,		/* batches held; the one in flight finishing */
	COMPACT_TAIL_WRITE,	/* the tail being written */
	COMPACT_TAIL_SYNC,	/* and fdatasync'd */
	COMPACT_RENAME,		/* PATH.new being renamed to PATH */
	COMPACT_DIR_OPEN,	/* the directory being opened */
	COMPACT_DIR_SYNC,	/* and fsync'd */
	COMPACT_CLEANUP		/* descriptors closing, PATH.new going */
};

struct journal {
	char			*path;
	size_t			 max_line;	/* longest line, no newline */
	int			 fd;		/* O_WRONLY | O_APPEND */
	uint64_t		 size;		/* committed bytes */
	uint64_t		 next_seq;	/* last committed seq + 1 */
	int			 broken;	/* fdatasync failed */
	int			 old;		/* replayed an older version: 1, 2 */
	struct journal_check	*check;		/* read-only: journal_check */

	struct uv_loop_s	*loop;
	enum jstate		 state;
	struct jentries		 queue;		/* waiting for a batch */
	struct jentries		 batch;		/* in flight */
	size_t			 nbatch;	/* records in this batch */
	size_t			 nrecords;	/* of which written */
	int			 error;		/* this batch's error */
	struct buf		 out;		/* this batch, framed */
	uv_fs_t			 req;
	uv_work_t		 work;

	journal_snapshot_cb	 snap_cb;
	void			*snap_arg;
	uint64_t		 compact_min;	/* least growth that compacts */
	uint64_t		 base;		/* size after last compaction */
	uint64_t		 grown;		/* committed bytes since then */
	int			 pending;	/* asked for during DONE */
	int			 held;		/* no batch may start */
	int			 corked;	/* batches wait for journal_uncork */
	size_t			 neager;	/* queued records that are not lazy */
	void			(*lazy_cb)(void *);
	void			*lazy_arg;
	enum cstate		 cstate;
	char			*newpath;	/* PATH.new */
	int			 cfd;		/* PATH.new, O_APPEND */
	int			 dfd;		/* the directory */
	int			 oldfd;		/* the replaced journal */
	int			 unlink_new;	/* remove PATH.new at cleanup */
	pid_t			 cpid;		/* the snapshot's child */
	int			 memfd;		/* where it writes the snapshot */
	uv_poll_t		*cpoll;		/* its result pipe, read end */
	struct journal_snap	 cres;		/* its result, as read so far */
	size_t			 cresn;		/* bytes of it read */
	char			*cmap;		/* the snapshot, mapped */
	size_t			 cmaplen;
	const char		*cdata;		/* being written to PATH.new */
	size_t			 clen;
	uint64_t		 ct0;		/* uv_hrtime: compaction began */
	uint64_t		 cseq;		/* last seq in the snapshot */
	uint64_t		 nsnap;		/* records in the snapshot */
	struct buf		 tail;		/* bodies after cseq */
	uint64_t		 ntail;
	struct buf		 cout;		/* being written to PATH.new */
	size_t			 coff;		/* of which written */
	uint64_t		 csize;		/* bytes synced in PATH.new */
	uv_fs_t			 creq;

	struct journal_counters	 ctr;		/* for stats (journal_counters) */
	struct stats_hist	 hsync;		/* fdatasync latency */
	uint64_t		 sync_t0;	/* uv_hrtime: batch write+sync submitted */
	int			 sync_error;	/* and its fdatasync's result */
	uint64_t		 csync_t0;	/* and a compaction's */
};

/* Streaming line reader for replay. */
struct jread {
	int		 fd;
	char		*buf;
	size_t		 cap;		/* allocated */
	size_t		 max;		/* never allocate more */
	size_t		 start, end;	/* unread bytes in buf */
	size_t		 max_line;
	uint64_t	 off;		/* file offset of buf[start] */
	int		 eof;
};

/* One line from the reader. */
struct jline {
	char		*data;		/* NULL if too long */
	size_t		 len;		/* without the newline */
	uint64_t	 off;		/* file offset of its first byte */
	int		 nl;		/* ended by a newline */
	int		 toolong;	/* longer than max_line */
};

static char	*journal_dir(const char *);
static int	 journal_create(struct journal *, char **);
static int	 journal_header(struct journal *, struct jread *, char **);
static int	 journal_upgrade(struct journal *, int, char **);
static int	 journal_replay(struct journal *, int, journal_apply_cb, void *,
		     char **);
static void	 journal_start(struct journal *);
static void	 journal_write_done(uv_fs_t *);
static void	 journal_synced(struct journal *, int);
static void	 journal_cut(struct journal *);
static void	 journal_truncate_done(uv_fs_t *);
static void	 journal_cut_done(uv_fs_t *);
static void	 journal_abort(struct journal *, const char *, int)
		    __attribute__((noreturn));
static void	 journal_bounce_work(uv_work_t *);
static void	 journal_bounce_done(uv_work_t *, int);
static void	 journal_break(struct journal *, const char *, int);
static void	 journal_finish(struct journal *, int);
static void	 journal_kick(struct journal *);
static void	 journal_enqueue(struct journal *, const char *, size_t,
		    journal_done_cb, void *, int);
static int	 journal_compact_due(struct journal *);
static int	 journal_frame(struct journal *, struct buf *, uint64_t,
		     const struct buf *, uint64_t *, int, uint64_t *);
static int	 journal_compact_begin(struct journal *);
static int	 journal_write_all(int, const char *, size_t);
static void	 journal_snap_child(struct journal *, pid_t, int, int)
		    __attribute__((noreturn));
static void	 journal_snap_read(uv_poll_t *, int, int);
static void	 journal_poll_closed(uv_handle_t *);
static void	 journal_snap_done(struct journal *);
static void	 journal_unmap_work(uv_work_t *);
static void	 journal_unmap_done(uv_work_t *, int);
static void	 journal_compact_unmap(struct journal *);
static void	 journal_compact_write(struct journal *);
static void	 journal_compact_tail(struct journal *);
static void	 journal_compact_done(uv_fs_t *);
static void	 journal_compact_switch(struct journal *);
static void	 journal_compact_fail(struct journal *, const char *, int);
static void	 journal_compact_cleanup(struct journal *);
static void	 journal_compact_step(struct journal *, const char *);
static void	 jread_init(struct jread *, int, size_t);
static void	 jread_free(struct jread *);
static int	 jread_fill(struct jread *);
static int	 jread_skip(struct jread *, struct jline *);
static int	 jread_line(struct jread *, struct jline *);

/*
 * Not in filed.h: called on the loop thread at each step of a compaction
 * ("snapshot", "tail", "renamed", "done", "failed"), so that
 * t/unit-journal.c can copy the files as a crash at that step leaves them
 * and append records at the awkward moments.
 */
extern void	(*journal_compact_hook)(struct journal *, const char *);
void		(*journal_compact_hook)(struct journal *, const char *);

/* Set up a reader on fd at offset 0. */
static void
jread_init(struct jread *rd, int fd, size_t max_line)
{
	memset(rd, 0, sizeof *rd);
	rd->fd = fd;
	rd->max_line = max_line;
	rd->max = max_line + 1 > JOURNAL_CHUNK ? max_line + 1 : JOURNAL_CHUNK;
	rd->cap = rd->max < JOURNAL_CHUNK ? rd->max : JOURNAL_CHUNK;
	rd->buf = xmalloc(rd->cap);
}

/* Release a reader's buffer. */
static void
jread_free(struct jread *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

/*
 * Read more bytes after the unread ones, moving them to the front and
 * growing the buffer (up to its maximum) if it is full. 0 or -1 (errno).
 */
static int
jread_fill(struct jread *rd)
{
	ssize_t	n;
	size_t	cap;

	if (rd->start > 0) {
		memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
		rd->end -= rd->start;
		rd->start = 0;
	}
	if (rd->end == rd->cap) {
		cap = rd->cap > rd->max / 2 ? rd->max : rd->cap * 2;
		if (cap <= rd->cap)
			fatalx("jread_fill: buffer full");
		rd->buf = xreallocarray(rd->buf, 1, cap);
		rd->cap = cap;
	}
	do
		n = read(rd->fd, rd->buf + rd->end, rd->cap - rd->end);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0)
		rd->eof = 1;
	rd->end += (size_t)n;
	return 0;
}

/*
 * Skip a line that is already longer than max_line, up to and including
 * its newline (or to the end of the file), without keeping it.
 */
static int
jread_skip(struct jread *rd, struct jline *l)
{
	char	*nl;
	size_t	 n;

	l->toolong = 1;
	l->data = NULL;
	for (;;) {
		nl = memchr(rd->buf + rd->start, '\n', rd->end - rd->start);
		if (nl != NULL) {
			n = (size_t)(nl - (rd->buf + rd->start)) + 1;
			rd->start += n;
			rd->off += n;
			l->nl = 1;
			l->len = (size_t)(rd->off - l->off - 1);
			return 1;
		}
		rd->off += rd->end - rd->start;
		rd->start = rd->end = 0;
		if (rd->eof) {
			l->len = (size_t)(rd->off - l->off);
			return 1;
		}
		if (jread_fill(rd) == -1)
			return -1;
	}
}

/*
 * Return the next line in l: 1, 0 at the end of the file, -1 on a read
 * error (errno). l->data points into the buffer until the next call.
 */
static int
jread_line(struct jread *rd, struct jline *l)
{
	char	*nl;
	size_t	 avail, len;

	memset(l, 0, sizeof *l);
	l->off = rd->off;
	for (;;) {
		avail = rd->end - rd->start;
		nl = avail == 0 ? NULL : memchr(rd->buf + rd->start, '\n',
		    avail);
		if (nl != NULL) {
			len = (size_t)(nl - (rd->buf + rd->start));
			l->data = rd->buf + rd->start;
			l->len = len;
			l->nl = 1;
			l->toolong = len > rd->max_line;
			rd->start += len + 1;
			rd->off += len + 1;
			return 1;
		}
		if (avail > rd->max_line)
			return jread_skip(rd, l);
		if (rd->eof) {
			if (avail == 0)
				return 0;
			l->data = rd->buf + rd->start;
			l->len = avail;
			rd->start = rd->end;
			rd->off += avail;
			return 1;
		}
		if (jread_fill(rd) == -1)
			return -1;
	}
}

/* Return the directory part of path, to be fsync'd (caller frees). */
static char *
journal_dir(const char *path)
{
	const char	*slash;

	if ((slash = strrchr(path, '/')) == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/*
 * Make PATH an empty journal: the header is written to PATH.new, fsync'd
 * and renamed over PATH, and the directory fsync'd. PATH never names a
 * journal whose header is not on disk: a crash meanwhile leaves PATH as it
 * was (missing, or a partial header) and a PATH.new that the next start
 * removes. Writing the header into PATH itself would not do: after a crash
 * the bytes of an unsynced append may be garbage rather than missing
 * (ALICE, ext4 writeback), and a file of garbage is not a filed journal,
 * so filed would refuse to start on a state it had never acknowledged
 * anything in (t/unit-crash.c found this).
 */
static int
journal_create(struct journal *j, char **cause)
{
	const char	*what;
	char		*dir;
	ssize_t		 n;
	int		 fd, e;

	fd = io_open(j->newpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		*cause = xasprintf("%s: %s", j->newpath, strerror(errno));
		return -1;
	}
	n = io_pwrite(fd, JOURNAL_HEADER, JOURNAL_HEADER_LEN, 0);
	if (n != (ssize_t)JOURNAL_HEADER_LEN) {
		*cause = xasprintf("%s: write: %s", j->newpath,
		    n == -1 ? strerror(errno) : "short write");
		goto fail;
	}
	what = "fsync";
	if (io_fsync(fd) == -1)
		goto fail_errno;
	e = io_close(fd);
	fd = -1;
	what = "close";
	if (e == -1)
		goto fail_errno;
	what = "rename";
	if (io_rename(j->newpath, j->path) == -1)
		goto fail_errno;
	dir = journal_dir(j->path);
	if (util_fsync_dir(dir) == -1) {
		*cause = xasprintf("%s: fsync: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	j->size = JOURNAL_HEADER_LEN;
	j->next_seq = 1;
	return 0;

fail_errno:
	*cause = xasprintf("%s: %s: %s", j->newpath, what, strerror(errno));
fail:
	if (fd != -1)
		io_close(fd);
	io_unlink(j->newpath);
	return -1;
}

/*
 * Read and check the header line. An empty file, or one holding only the
 * start of a header, is what a crash while creating the journal leaves: it
 * becomes a fresh journal. Return 1 if the journal is fresh (nothing to
 * replay), 0 to go on replaying, -1 with *cause.
 */
static int
journal_header(struct journal *j, struct jread *rd, char **cause)
{
	struct jline	 l;
	size_t		 mlen = strlen(JOURNAL_MAGIC), i;
	int		 n;

	if ((n = jread_line(rd, &l)) == -1) {
		*cause = xasprintf("%s: read: %s", j->path, strerror(errno));
		return -1;
	}
	if (n == 0 || (!l.nl && !l.toolong && l.len < JOURNAL_HEADER_LEN &&
	    (memcmp(l.data, JOURNAL_HEADER, l.len) == 0 ||
	    memcmp(l.data, JOURNAL_HEADER_V2, l.len) == 0 ||
	    memcmp(l.data, JOURNAL_HEADER_V1, l.len) == 0))) {
		if (j->check != NULL) {
			j->check->fresh = 1;
			j->check->size = (uint64_t)l.len;
			return 1;
		}
		if (n != 0)
			log_warnx("journal: %s: rewriting partial header",
			    j->path);
		if (journal_create(j, cause) != 0)
			return -1;
		return 1;
	}
	if (l.toolong || !l.nl || l.len <= mlen ||
	    memcmp(l.data, JOURNAL_MAGIC, mlen) != 0)
		goto bad;
	for (i = mlen; i < l.len; i++) {
		if (l.data[i] < '0' || l.data[i] > '9')
			goto bad;
	}
	if (l.len == JOURNAL_HEADER_LEN - 1 &&
	    memcmp(l.data, JOURNAL_HEADER_V1, l.len) == 0)
		j->old = 1;
	else if (l.len == JOURNAL_HEADER_LEN - 1 &&
	    memcmp(l.data, JOURNAL_HEADER_V2, l.len) == 0)
		j->old = 2;
	else if (l.len != JOURNAL_HEADER_LEN - 1 ||
	    memcmp(l.data, JOURNAL_HEADER, l.len) != 0) {
		*cause = xasprintf("%s: journal format version %.*s is not "
		    "supported", j->path, (int)(l.len - mlen), l.data + mlen);
		return -1;
	}
	j->size = JOURNAL_HEADER_LEN;
	j->next_seq = 1;
	return 0;

bad:
	*cause = xasprintf("%s: not a filed journal", j->path);
	return -1;
}

/*
 * Replay the journal on fd (open read-write) through apply, cutting off a
 * torn tail. Set j->size and j->next_seq. 0, or -1 with *cause.
 */
static int
journal_replay(struct journal *j, int fd, journal_apply_cb apply, void *arg,
    char **cause)
{
	struct jread	 rd;
	struct jline	 l;
	struct rec	 r;
	char		 reason[128];
	const char	*why;
	uint64_t	 line = 1, prev = 0, dline, doff;
	int		 n;

	jread_init(&rd, fd, j->max_line);
	if ((n = journal_header(j, &rd, cause)) != 0) {
		jread_free(&rd);
		return n == 1 ? 0 : -1;
	}

	for (;;) {
		if ((n = jread_line(&rd, &l)) == -1)
			goto readerr;
		if (n == 0)
			break;
		line++;
		if (l.toolong) {
			snprintf(reason, sizeof reason,
			    "line longer than %zu bytes", j->max_line);
			goto damaged;
		}
		if (!l.nl) {
			snprintf(reason, sizeof reason,
			    "no newline at end of file");
			goto damaged;
		}
		if (rec_parse(l.data, l.len, &r, &why) != 0) {
			snprintf(reason, sizeof reason, "%s", why);
			goto damaged;
		}
		if (prev != 0 && r.seq != prev + 1) {
			snprintf(reason, sizeof reason,
			    "sequence %" PRIu64 " after %" PRIu64, r.seq, prev);
			goto damaged;
		}
		why = NULL;
		if (apply(arg, &r, &why) != 0) {
			*cause = xasprintf("%s:%" PRIu64 ": offset %" PRIu64
			    ": %s", j->path, line, l.off,
			    why != NULL ? why : "record refused");
			goto fail;
		}
		prev = r.seq;
		j->size = l.off + l.len + 1;
		if (j->check != NULL)
			j->check->records++;
	}
	j->next_seq = prev + 1;
	jread_free(&rd);
	return 0;

damaged:
	/*
	 * A crash in the middle of an append leaves a torn last line and
	 * nothing after it. Damage with a valid record after it is something
	 * else (a bad disk, a bad edit, a bug) and cutting there would throw
	 * away acknowledged changes, so refuse and let a human look.
	 */
	dline = line;
	doff = l.off;
	while ((n = jread_line(&rd, &l)) == 1) {
		if (l.toolong)
			continue;
		if (rec_parse(l.data, l.len, &r, &why) == 0) {
			*cause = xasprintf("%s:%" PRIu64 ": offset %" PRIu64
			    ": %s; valid records follow, refusing to start",
			    j->path, dline, doff, reason);
			goto fail;
		}
	}
	if (n == -1)
		goto readerr;
	if (j->check != NULL) {
		/* Read-only: say what the next start would cut. */
		j->check->torn_off = doff;
		j->check->torn_bytes = rd.off - doff;
		snprintf(j->check->torn_why, sizeof j->check->torn_why, "%s",
		    reason);
		j->size = doff;
		j->next_seq = prev + 1;
		jread_free(&rd);
		return 0;
	}
	if (io_ftruncate(fd, (off_t)doff) == -1) {
		*cause = xasprintf("%s: ftruncate: %s", j->path,
		    strerror(errno));
		goto fail;
	}
	if (io_fsync(fd) == -1) {
		*cause = xasprintf("%s: fsync: %s", j->path, strerror(errno));
		goto fail;
	}
	log_warnx("journal: cut torn tail at offset %llu (%llu bytes "
	    "dropped): %s", (unsigned long long)doff,
	    (unsigned long long)(rd.off - doff), reason);
	j->size = doff;
	j->next_seq = prev + 1;
	jread_free(&rd);
	return 0;

readerr:
	*cause = xasprintf("%s: read: %s", j->path, strerror(errno));
fail:
	jread_free(&rd);
	return -1;
}

/*
 * Make a journal of an older version (1 or 2) one of the current version,
 * in place, before anything is appended. Each version adds records that
 * an older filed would misread (version 2: jobs being written, and what
 * ends their writing, whose text an older filed would run partial;
 * version 3: a job's policy and a dependency's failure, which it would
 * take for damage, or cut as a torn tail and lose), so an older filed
 * must refuse the file. The records of older versions mean the same in
 * the current one, so the file is valid under either header, and the
 * headers differ in one byte of the first sector: a crash leaves one or
 * the other.
 */
static int
journal_upgrade(struct journal *j, int fd, char **cause)
{
	if (io_pwrite(fd, &JOURNAL_HEADER[JOURNAL_VERSION_OFF], 1,
	    JOURNAL_VERSION_OFF) != 1 || io_fsync(fd) == -1) {
		*cause = xasprintf("%s: upgrading to format version %d: %s",
		    j->path, JOURNAL_VERSION, strerror(errno));
		return -1;
	}
	log_info("journal: %s: format version %d upgraded to %d", j->path,
	    j->old, JOURNAL_VERSION);
	j->old = 0;
	return 0;
}

/*
 * Open the journal at path, creating it if missing, and replay it through
 * apply. Lines longer than max_line (without the newline) are damage. The
 * record given to apply points into a reused buffer: apply copies what it
 * keeps. Return the journal, or NULL with *cause set (caller frees).
 */
struct journal *
journal_open(const char *path, size_t max_line, journal_apply_cb apply,
    void *arg, char **cause)
{
	struct journal	*j;
	struct stat	 st;
	char		*dir;
	int		 fd = -1;

	*cause = NULL;
	j = xcalloc(1, sizeof *j);
	j->path = xstrdup(path);
	j->newpath = xasprintf("%s.new", path);
	j->max_line = max_line < JOURNAL_MIN_LINE ? JOURNAL_MIN_LINE :
	    max_line;
	j->fd = -1;
	j->state = JOURNAL_IDLE;
	TAILQ_INIT(&j->queue);
	TAILQ_INIT(&j->batch);
	buf_init(&j->out);
	j->compact_min = JOURNAL_COMPACT_MIN;
	j->cstate = COMPACT_NONE;
	j->cfd = j->dfd = j->oldfd = j->memfd = -1;
	buf_init(&j->tail);
	buf_init(&j->cout);
	stats_hist_init(&j->hsync, STATS_HIST_SYNC);

	/*
	 * PATH.new is only ever complete once renamed to PATH: one still
	 * there is what a crash during a compaction left, and PATH is the
	 * old journal, whole.
	 */
	if (io_unlink(j->newpath) == 0) {
		log_warnx("journal: removed %s left by an interrupted "
		    "compaction", j->newpath);
		dir = journal_dir(path);
		if (util_fsync_dir(dir) == -1) {
			*cause = xasprintf("%s: fsync: %s", dir,
			    strerror(errno));
			free(dir);
			goto fail;
		}
		free(dir);
	} else if (errno != ENOENT)
		log_warn("journal: %s: unlink", j->newpath);

	if ((fd = io_open(path, O_RDWR | O_CLOEXEC, 0)) == -1) {
		if (errno != ENOENT) {
			*cause = xasprintf("%s: %s", path, strerror(errno));
			goto fail;
		}
		if (journal_create(j, cause) != 0)
			goto fail;
	} else {
		if (journal_replay(j, fd, apply, arg, cause) != 0)
			goto fail;
		if (j->old != 0 && journal_upgrade(j, fd, cause) != 0)
			goto fail;
		io_close(fd);
		fd = -1;
	}

	if ((j->fd = io_open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0)) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(j->fd, &st) == -1 || (uint64_t)st.st_size != j->size) {
		*cause = xasprintf("%s: changed while being opened", path);
		goto fail;
	}
	log_debug("journal: %s: %llu bytes, next sequence number %llu", path,
	    (unsigned long long)j->size, (unsigned long long)j->next_seq);
	return j;

fail:
	if (fd != -1)
		io_close(fd);
	if (j->fd != -1)
		io_close(j->fd);
	free(j->newpath);
	free(j->path);
	free(j);
	return NULL;
}

/*
 * Replay the journal at path through apply as journal_open does, changing
 * nothing: no file is created, cut, upgraded or removed, and no lock is
 * taken, so it may run beside a filed that appends to it. What it found
 * goes to *jc: a missing or empty journal is fresh, a torn tail is
 * reported (the next start cuts it), and damage with valid records after
 * it, or a record refused, is -1 with *cause as the daemon says it.
 */
int
journal_check(const char *path, size_t max_line, journal_apply_cb apply,
    void *arg, struct journal_check *jc, char **cause)
{
	struct journal	 j;
	struct stat	 st;
	int		 fd, rv;

	*cause = NULL;
	memset(jc, 0, sizeof *jc);
	memset(&j, 0, sizeof j);
	j.path = (char *)path;
	j.max_line = max_line < JOURNAL_MIN_LINE ? JOURNAL_MIN_LINE :
	    max_line;
	j.check = jc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			jc->fresh = 1;
			return 0;
		}
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0) {
		jc->dev = (uint64_t)st.st_dev;
		jc->ino = (uint64_t)st.st_ino;
	}
	rv = journal_replay(&j, fd, apply, arg, cause);
	close(fd);
	if (rv != 0)
		return -1;
	if (!jc->fresh)
		jc->size = j.size;
	jc->version = j.old != 0 ? j.old : JOURNAL_VERSION;
	jc->next_seq = j.next_seq;
	return 0;
}

/* Give the journal its loop; needed before the first append. */
void
journal_attach(struct journal *j, struct uv_loop_s *loop)
{
	j->loop = loop;
}

/*
 * Queue a record body (copied) for the next commit. cb (may be NULL) is
 * called from the loop with 0 once the record is on stable storage, or with
 * a negative errno if it is not and never will be. A callback may append
 * more records; they queue behind those already waiting.
 */
void
journal_append(struct journal *j, const char *body, size_t len,
    journal_done_cb cb, void *arg)
{
	journal_enqueue(j, body, len, cb, arg, 0);
}

/*
 * Queue a record that nobody waits for (the runner's start and end of an
 * attempt). It does not start a batch by itself: it goes out with the next
 * one, or when the lazy callback (journal_set_lazy) pushes it, a moment
 * later. Jobs that run for a millisecond then share one fdatasync among
 * several, instead of costing two each; a crash in that moment makes
 * an attempt that had ended look interrupted, and the job runs again.
 */
void
journal_append_lazy(struct journal *j, const char *body, size_t len,
    journal_done_cb cb, void *arg)
{
	journal_enqueue(j, body, len, cb, arg, 1);
}

/* Set fn(arg), called when a lazy record waits and no batch will take it. */
void
journal_set_lazy(struct journal *j, void (*fn)(void *), void *arg)
{
	j->lazy_cb = fn;
	j->lazy_arg = arg;
}

/* Queue a record for journal_append or journal_append_lazy. */
static void
journal_enqueue(struct journal *j, const char *body, size_t len,
    journal_done_cb cb, void *arg, int lazy)
{
	struct jentry	*e;

	if (j->loop == NULL)
		fatalx("journal_append: no loop attached");
	if (len == 0 || memchr(body, '\n', len) != NULL)
		fatalx("journal_append: not a record body");

	e = xmalloc(sizeof *e + len);
	e->cb = cb;
	e->arg = arg;
	e->error = 0;
	e->lazy = lazy && j->lazy_cb != NULL;
	e->len = len;
	memcpy(e->body, body, len);
	TAILQ_INSERT_TAIL(&j->queue, e, entry);
	if (!e->lazy)
		j->neager++;

	/* A lone record is never delayed: only a busy journal batches. */
	journal_kick(j);
}

/*
 * Start a batch if records wait, none is in flight and none is held; if
 * only lazy records wait, have them pushed a moment later.
 */
static void
journal_kick(struct journal *j)
{
	if (j->state != JOURNAL_IDLE || j->held || j->corked > 0 ||
	    TAILQ_EMPTY(&j->queue))
		return;
	if (j->neager > 0)
		journal_start(j);
	else if (j->lazy_cb != NULL)
		j->lazy_cb(j->lazy_arg);
}

/*
 * Cork the journal while a burst of requests that arrived together is
 * handled (the FUSE requests read in one wake-up, the children reaped on
 * one SIGCHLD): their records then go out as one batch when the burst is
 * done, not the first alone and the rest behind its fdatasync. Nothing
 * waits for more work to come, so a lone request is not delayed.
 */
void
journal_cork(struct journal *j)
{
	j->corked++;
}

/* Start a batch now if records wait and none is in flight, even corked. */
void
journal_push(struct journal *j)
{
	if (j->state == JOURNAL_IDLE && !j->held && !TAILQ_EMPTY(&j->queue))
		journal_start(j);
}

/* The burst is handled: start a batch with what it appended. */
void
journal_uncork(struct journal *j)
{
	if (j->corked > 0 && --j->corked == 0)
		journal_kick(j);
}

/*
 * Start the next batch: take queued records (up to JOURNAL_BATCH_MAX bytes,
 * at least one), number them from the last committed seq and write them
 * with one write. A record whose line would be longer than max_line is not
 * written (it could not be replayed) and gets -EFBIG.
 */
static void
journal_start(struct journal *j)
{
	struct jentry	*e;
	uv_buf_t	 iov;
	uint64_t	 seq = j->next_seq;
	size_t		 before;
	int		 r;

	buf_reset(&j->out);
	j->nbatch = 0;
	j->nrecords = 0;
	j->error = 0;
	while ((e = TAILQ_FIRST(&j->queue)) != NULL) {
		if (j->out.len >= JOURNAL_BATCH_MAX)
			break;
		TAILQ_REMOVE(&j->queue, e, entry);
		TAILQ_INSERT_TAIL(&j->batch, e, entry);
		if (!e->lazy)
			j->neager--;
		j->nbatch++;
		if (j->broken)
			continue;
		before = j->out.len;
		rec_frame(&j->out, seq, e->body, e->len);
		if (j->out.len - before - 1 > j->max_line) {
			log_warnx("journal: refused a record of %zu bytes: "
			    "lines are limited to %zu", j->out.len - before - 1,
			    j->max_line);
			j->out.len = before;
			j->out.data[before] = '\0';
			e->error = -EFBIG;
			continue;
		}
		seq++;
		j->nrecords++;
	}

	if (j->broken || j->nrecords == 0) {
		/* Nothing to write: fail the batch from the loop, not here. */
		j->error = j->broken ? -EIO : 0;
		j->state = JOURNAL_BOUNCE;
		j->work.data = j;
		r = uv_queue_work(j->loop, &j->work, journal_bounce_work,
		    journal_bounce_done);
		if (r != 0)
			fatalx("journal: uv_queue_work: %s", uv_strerror(r));
		return;
	}

	log_debug("journal: batch of %zu records, %zu bytes", j->nrecords,
	    j->out.len);
	/* libuv copies the buffer list; the bytes stay in j->out meanwhile. */
	/*
	 * The write and its fdatasync go to the thread pool together: one
	 * hand-over each way per batch, not two.
	 */
	iov = uv_buf_init(j->out.data, (unsigned int)j->out.len);
	j->state = JOURNAL_WRITE;
	j->req.data = j;
	j->sync_t0 = uv_hrtime();
	r = io_fs_write_sync(j->loop, &j->req, j->fd, &iov, &j->sync_error,
	    journal_write_done);
	if (r != 0)
		fatalx("journal: io_fs_write_sync: %s", uv_strerror(r));
}

/* The batch's write and fdatasync finished, or its write failed. */
static void
journal_write_done(uv_fs_t *req)
{
	struct journal	*j = req->data;
	ssize_t		 n = req->result;

	uv_fs_req_cleanup(req);
	if (n >= 0 && (size_t)n == j->out.len) {
		j->state = JOURNAL_SYNC;
		journal_synced(j, j->sync_error);
		return;
	}

	/* A short write is a full disk. */
	if (n < 0) {
		log_warnx("journal: %s: write: %s", j->path,
		    uv_strerror((int)n));
		j->error = (int)n;
	} else {
		log_warnx("journal: %s: short write (%zd of %zu bytes)",
		    j->path, n, j->out.len);
		j->error = -ENOSPC;
	}
	journal_cut(j);
}

/* The batch's fdatasync returned r: it is committed, or the file is broken. */
static void
journal_synced(struct journal *j, int r)
{
	struct jentry	*e;
	uint64_t	 n = 0;

	stats_hist_add(&j->hsync, (int64_t)(uv_hrtime() - j->sync_t0));
	if (r < 0) {
		journal_break(j, "fdatasync", r);
		j->error = -EIO;
		journal_cut(j);
		return;
	}
	j->size += j->out.len;
	j->next_seq += j->nrecords;
	j->grown += j->out.len;
	j->ctr.records += j->nrecords;
	j->ctr.commits++;
	j->ctr.bytes += j->out.len;

	/* Committed after the snapshot was taken: they go into its tail. */
	if (j->cstate >= COMPACT_CHILD && j->cstate <= COMPACT_WAIT) {
		TAILQ_FOREACH(e, &j->batch, entry) {
			if (e->error != 0)
				continue;
			buf_add(&j->tail, e->body, e->len);
			buf_addc(&j->tail, '\n');
			n++;
		}
		if (n != j->nrecords)
			fatalx("journal: %llu of %zu records in the tail",
			    (unsigned long long)n, j->nrecords);
		j->ntail += n;
	}
	journal_finish(j, 0);
}

/*
 * The batch's write or fdatasync failed: cut the journal back to its last
 * committed size and fsync it, on the thread pool; only then are the
 * batch's requests told (journal_cut_done).
 *
 * A request answered with an error was not made, and must never be made
 * later: its record must not be replayed. But the batch's bytes are in the
 * file. A failed fdatasync says nothing of what reached the disk (all of
 * the batch, some, none), and the part of a failed or short write that
 * was written may reach it by ordinary writeback at any moment. Left
 * there, they would be replayed at the next start, after a crash or a
 * clean stop alike: the job whose close() said EIO would run, the rm that
 * failed would take effect. Cutting them off is not enough by itself: the
 * shorter size is metadata, which a crash can lose while the written
 * blocks survive, so the cut is synced before anyone is answered. fsync,
 * not fdatasync: what must be durable is the inode's size, and fsync is
 * the call that promises the whole inode; this path runs only after a
 * failure, where the difference in cost does not matter. Until the fsync
 * returns, the requests stay parked: a crash meanwhile leaves records
 * that nobody was told about, as any crash before an answer does.
 *
 * Whatever reached the file must go for another reason too: the next
 * batch is appended after it, and replay would find damage followed by
 * valid records. Records the batch refused by themselves (e->error) were
 * never written, and a batch that wrote nothing (JOURNAL_BOUNCE) has
 * nothing to cut. The success path makes no call for any of this.
 */
static void
journal_cut(struct journal *j)
{
	int	r;

	j->state = JOURNAL_CUT;
	j->req.data = j;
	r = io_fs_ftruncate(j->loop, &j->req, j->fd, (int64_t)j->size,
	    journal_truncate_done);
	if (r != 0)
		fatalx("journal: io_fs_ftruncate: %s", uv_strerror(r));
}

/* The failed batch was cut off: make the shorter size durable. */
static void
journal_truncate_done(uv_fs_t *req)
{
	struct journal	*j = req->data;
	int		 r = (int)req->result;

	uv_fs_req_cleanup(req);
	if (r < 0)
		journal_abort(j, "ftruncate", r);
	j->state = JOURNAL_CUT_SYNC;
	j->req.data = j;
	r = io_fs_fsync(j->loop, &j->req, j->fd, journal_cut_done);
	if (r != 0)
		fatalx("journal: io_fs_fsync: %s", uv_strerror(r));
}

/*
 * The cut is durable: the batch's records can never be replayed. Fail the
 * batch with the error of its write, or EIO after a failed fdatasync.
 */
static void
journal_cut_done(uv_fs_t *req)
{
	struct journal	*j = req->data;
	int		 r = (int)req->result;

	uv_fs_req_cleanup(req);
	if (r < 0)
		journal_abort(j, "fsync", r);
	journal_finish(j, j->error);
}

/*
 * A failed batch could not be cut back durably (what failed, with the
 * libuv error r): its records may be on the disk and replayed at the next
 * start, or not, and filed cannot tell which. Answering its requests with
 * an error would promise "not made, never will be" when that is not
 * known, and going on would build on a file in an unknown state. So filed
 * exits at once with JOURNAL_EXIT, answering nothing: the kernel fails the
 * parked requests as when filed dies, and their callers learn, as after a
 * crash, that the outcome is unknown. The next start replays the journal
 * as it stands. This is the one place filed exits for that reason.
 */
static void
journal_abort(struct journal *j, const char *what, int r)
{
	fatalx_now(JOURNAL_EXIT, "journal: %s: %s: %s (%s) while cutting "
	    "back %zu refused records, which the next start may replay; "
	    "exiting without answering them", j->path, what, uv_strerror(r),
	    uv_err_name(r), j->nrecords);
}

/* Nothing to do on the thread pool: the work item only bounces to the loop. */
static void
journal_bounce_work(uv_work_t *work)
{
}

/* A batch with nothing to write comes back to the loop: complete it. */
static void
journal_bounce_done(uv_work_t *work, int status)
{
	struct journal	*j = work->data;

	if (j->broken) {
		log_warnx("journal: %s is not trusted since a failed sync, "
		    "refusing %zu records", j->path, j->nbatch);
	}
	journal_finish(j, j->error);
}

/*
 * After a failed fdatasync (or a compaction's failed directory fsync) the
 * kernel may have dropped the dirty pages and the file's contents are
 * unknown: no later fdatasync can promise that a record is on disk. The
 * journal refuses every change from now on. Recovery means writing the
 * whole state afresh (as compaction does) and clearing broken.
 */
static void
journal_break(struct journal *j, const char *what, int r)
{
	log_warnx("journal: %s: %s: %s; refusing changes until the state is "
	    "rewritten", j->path, what, uv_strerror(r));
	j->broken = 1;
}

/* Return 1 if the journal refuses changes after an I/O error. */
int
journal_broken(struct journal *j)
{
	return j->broken;
}

/*
 * Call the batch's callbacks in order with error (or a record's own), then
 * start the next batch. Appends made by the callbacks only queue, so that
 * records keep the order in which they were appended.
 */
static void
journal_finish(struct journal *j, int error)
{
	struct jentries	 done;
	struct jentry	*e;

	if (error != 0)
		j->ctr.failed++;
	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &j->batch, entry);
	j->state = JOURNAL_DONE;
	while ((e = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, e, entry);
		if (e->cb != NULL)
			e->cb(e->arg, e->error != 0 ? e->error : error);
		free(e);
	}
	j->state = JOURNAL_IDLE;

	/*
	 * A compaction starts here, after the callbacks, because the
	 * snapshot is taken from the state the callbacks have just brought
	 * up to date with the records of this batch.
	 */
	if (j->cstate == COMPACT_WAIT)
		journal_compact_tail(j);
	else if (j->pending || journal_compact_due(j) ||
	    (j->broken && j->cstate == COMPACT_NONE && j->snap_cb != NULL)) {
		/*
		 * A broken journal is recovered by a compaction: the state in
		 * memory is exactly what was committed, so writing it to a
		 * new file, syncing it and renaming it over the old one makes
		 * a journal that can be trusted again. Each batch refused
		 * meanwhile tries once more, so recovery follows demand.
		 */
		j->pending = 0;
		journal_compact_begin(j);
	}
	journal_kick(j);
}

/* Return 1 if no record is queued or in flight and no compaction runs. */
int
journal_idle(struct journal *j)
{
	return j->state == JOURNAL_IDLE && TAILQ_EMPTY(&j->queue) &&
	    j->cstate == COMPACT_NONE && !j->pending;
}

/* Return the size of the journal file up to its last committed record. */
uint64_t
journal_size(struct journal *j)
{
	return j->size;
}

/* Fill c with what the journal did since it was opened, and its size. */
void
journal_counters(struct journal *j, struct journal_counters *c)
{
	*c = j->ctr;
	c->size = j->size;
	c->broken = j->broken;
	c->sync = &j->hsync;
}

/* Return the sequence number the next committed record will get. */
uint64_t
journal_next_seq(struct journal *j)
{
	return j->next_seq;
}

/* Close the journal; it must be idle. */
void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (!journal_idle(j))
		fatalx("journal_close: records in flight");
	if (io_close(j->fd) == -1)
		log_warn("journal: %s: close", j->path);
	buf_free(&j->out);
	buf_free(&j->tail);
	buf_free(&j->cout);
	free(j->newpath);
	free(j->path);
	free(j);
}


/*
 * Set the callback that writes the live state as record bodies, one per
 * line, into a buffer; with none, the journal is never compacted.
 */
void
journal_set_snapshot(struct journal *j, journal_snapshot_cb cb, void *arg)
{
	j->snap_cb = cb;
	j->snap_arg = arg;
}

/* Set the least growth (in bytes) that starts a compaction by itself. */
void
journal_set_compact_min(struct journal *j, uint64_t bytes)
{
	j->compact_min = bytes;
}

/*
 * Start a compaction now. 0 if it started (or will, once the callbacks of
 * the batch now completing have run), -1 if it cannot: one runs already,
 * the journal is broken or there is no snapshot callback.
 */
int
journal_compact(struct journal *j)
{
	if (j->loop == NULL || j->snap_cb == NULL || j->broken ||
	    j->cstate != COMPACT_NONE || j->pending)
		return -1;
	if (j->state == JOURNAL_DONE) {
		/* The state does not yet hold the whole batch: wait for it. */
		j->pending = 1;
		return 0;
	}
	return journal_compact_begin(j);
}

/*
 * Return 1 if the journal has grown by more than its size after the last
 * compaction (at least compact_min) and should be compacted. Between
 * compactions the journal stays below about twice the live state, and the
 * cost of writing the state is spread over as many bytes of appends.
 */
static int
journal_compact_due(struct journal *j)
{
	uint64_t	threshold;

	if (j->snap_cb == NULL || j->broken || j->cstate != COMPACT_NONE)
		return 0;
	threshold = j->base > j->compact_min ? j->base : j->compact_min;
	return j->grown > threshold;
}

/* Write all of data to fd (the snapshot's memfd): 0, or -1 with errno. */
static int
journal_write_all(int fd, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Frame the bodies in src (each followed by a newline) as records with
 * seqs from seq onwards, appending to out; count them in *n. With fd not
 * -1, out goes to fd whenever it holds JOURNAL_SNAP_FLUSH bytes, and at
 * the end. A record whose line would be longer than max_line could not be
 * replayed: -1 with errno EFBIG and its length in *toolong (logged here
 * if fd is -1); a failed write: -1 with its errno.
 */
static int
journal_frame(struct journal *j, struct buf *out, uint64_t seq,
    const struct buf *src, uint64_t *n, int fd, uint64_t *toolong)
{
	const char	*p = src->data, *end = src->data + src->len, *nl;
	size_t		 before;

	*n = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || nl == p)
			fatalx("journal: snapshot: not a record body");
		before = out->len;
		rec_frame(out, seq + *n, p, (size_t)(nl - p));
		if (out->len - before - 1 > j->max_line) {
			*toolong = out->len - before - 1;
			if (fd == -1)
				log_warnx("journal: compaction: a record of "
				    "%zu bytes is longer than %zu",
				    out->len - before - 1, j->max_line);
			errno = EFBIG;
			return -1;
		}
		(*n)++;
		p = nl + 1;
		if (fd != -1 && out->len >= JOURNAL_SNAP_FLUSH) {
			if (journal_write_all(fd, out->data, out->len) != 0)
				return -1;
			buf_reset(out);
		}
	}
	if (fd != -1 && out->len > 0) {
		if (journal_write_all(fd, out->data, out->len) != 0)
			return -1;
		buf_reset(out);
	}
	return 0;
}

/*
 * In the child: write the header and the framed snapshot to the memfd and
 * the result to the pipe, then _exit. It touches nothing of libuv or FUSE
 * and runs no atexit handler (nor LeakSanitizer): what it allocates dies
 * with it. Signals are blocked (libuv's handlers would write to the
 * parent's signal pipe) and it dies with its parent.
 */
static void __attribute__((noreturn))
journal_snap_child(struct journal *j, pid_t parent, int memfd, int wfd)
{
	struct journal_snap	 res;
	struct buf		 snap, out;
	sigset_t		 all;
	off_t			 off;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	/*
	 * It holds a copy of filed's /dev/fuse descriptor: were it to outlive
	 * a killed filed, the mount would hang until it is done instead of
	 * failing at once. A parent gone before the prctl is seen here.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(1);
	memset(&res, 0, sizeof res);
	buf_init(&snap);
	buf_init(&out);
	j->snap_cb(j->snap_arg, &snap);
	buf_add(&out, JOURNAL_HEADER, JOURNAL_HEADER_LEN);
	if (journal_frame(j, &out, 1, &snap, &res.nsnap, memfd,
	    &res.toolong) != 0)
		res.error = errno;
	else if ((off = lseek(memfd, 0, SEEK_CUR)) == -1)
		res.error = errno;
	else
		res.len = (uint64_t)off;
	(void)journal_write_all(wfd, (const char *)&res, sizeof res);
	_exit(0);
}

/*
 * Start taking the snapshot: a child forked now writes the state as it is
 * at this moment (exactly the records up to the last committed seq: a
 * batch in flight is not in it, and its records join the tail when they
 * commit) to a memfd, while the loop goes on (journal_snap_read). 0, or
 * -1 if the child could not be started.
 */
static int
journal_compact_begin(struct journal *j)
{
	const char	*what;
	int		 p[2] = { -1, -1 }, memfd = -1, r;
	pid_t		 pid, parent;

	if (j->snap_cb == NULL || j->cstate != COMPACT_NONE)
		return -1;
	what = "memfd_create";
	if ((memfd = memfd_create("filed-snapshot", MFD_CLOEXEC)) == -1)
		goto fail;
	what = "pipe";
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;
	what = "fork";
	j->ct0 = uv_hrtime();
	parent = getpid();
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0) {
		close(p[0]);
		journal_snap_child(j, parent, memfd, p[1]);
	}
	close(p[1]);
	j->cstate = COMPACT_CHILD;
	j->cseq = j->next_seq - 1;
	j->ntail = 0;
	buf_reset(&j->tail);
	j->cpid = pid;
	j->memfd = memfd;
	j->cresn = 0;
	memset(&j->cres, 0, sizeof j->cres);
	j->cpoll = xcalloc(1, sizeof *j->cpoll);
	if ((r = uv_poll_init(j->loop, j->cpoll, p[0])) != 0 ||
	    (r = uv_poll_start(j->cpoll, UV_READABLE, journal_snap_read)) != 0)
		fatalx("journal: uv_poll: %s", uv_strerror(r));
	j->cpoll->data = j;
	log_debug("journal: compaction started at seq %llu, snapshot by "
	    "process %d (the fork took %.1f ms)", (unsigned long long)j->cseq,
	    (int)pid, (double)(uv_hrtime() - j->ct0) / 1e6);
	return 0;

fail:
	/* Nothing was created; back off as after any failure. */
	log_warn("journal: compaction: %s", what);
	if (p[0] != -1) {
		close(p[0]);
		close(p[1]);
	}
	if (memfd != -1)
		close(memfd);
	j->grown = 0;
	j->ctr.compact_failed++;
	return -1;
}

/* The child's result pipe is readable: read its result, then its end. */
static void
journal_snap_read(uv_poll_t *h, int status, int events)
{
	struct journal	*j = h->data;
	ssize_t		 n;
	int		 fd;
	char		 c;

	(void)events;
	if (status == 0) {
		if (uv_fileno((uv_handle_t *)h, &fd) != 0)
			fatalx("journal: uv_fileno");
		n = read(fd, (char *)&j->cres + j->cresn,
		    j->cresn < sizeof j->cres ? sizeof j->cres - j->cresn : 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0) {
			j->cresn += (size_t)n;
			if (j->cresn < sizeof j->cres)
				return;
			/* The whole result: wait for the end of the pipe. */
			if (read(fd, &c, 1) != 0)
				return;
		}
	}
	journal_snap_done(j);
}

/* Close a poll handle's descriptor and free it. */
static void
journal_poll_closed(uv_handle_t *h)
{
	int	fd;

	if (uv_fileno(h, &fd) == 0)
		close(fd);
	free(h);
}

/*
 * The child closed its pipe, as it does when it exits: reap it and, if it
 * wrote the snapshot, map it and go on to PATH.new.
 */
static void
journal_snap_done(struct journal *j)
{
	struct rusage	 ru;
	char		 cause[128];
	int		 st = 0, err = 0;
	void		*map;

	uv_poll_stop(j->cpoll);
	uv_close((uv_handle_t *)j->cpoll, journal_poll_closed);
	j->cpoll = NULL;
	memset(&ru, 0, sizeof ru);
	while (wait4(j->cpid, &st, 0, &ru) == -1 && errno == EINTR)
		continue;
	j->cpid = 0;
	if (j->cresn != sizeof j->cres || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			snprintf(cause, sizeof cause, "snapshot process "
			    "killed by signal %d", WTERMSIG(st));
		else
			snprintf(cause, sizeof cause, "snapshot process "
			    "exited with status %d", WEXITSTATUS(st));
	} else if ((err = j->cres.error) == EFBIG)
		snprintf(cause, sizeof cause, "a record of %llu bytes is "
		    "longer than %zu", (unsigned long long)j->cres.toolong,
		    j->max_line);
	else if (err != 0)
		snprintf(cause, sizeof cause, "snapshot: %s", strerror(err));
	else if ((map = mmap(NULL, (size_t)j->cres.len, PROT_READ,
	    MAP_SHARED, j->memfd, 0)) == MAP_FAILED)
		snprintf(cause, sizeof cause, "snapshot: mmap: %s",
		    strerror(err = errno));
	else {
		close(j->memfd);
		j->memfd = -1;
		j->cmap = map;
		j->cmaplen = (size_t)j->cres.len;
		j->nsnap = j->cres.nsnap;
		log_debug("journal: snapshot of %llu records, %zu bytes, "
		    "in %.3f s (%.3f s of CPU)", (unsigned long long)j->nsnap,
		    j->cmaplen, (double)(uv_hrtime() - j->ct0) / 1e9,
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
		j->cstate = COMPACT_OPEN;
		j->coff = 0;
		j->csize = 0;
		j->creq.data = j;
		if (io_fs_open(j->loop, &j->creq, j->newpath, O_WRONLY |
		    O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600,
		    journal_compact_done) != 0)
			fatalx("journal: io_fs_open");
		return;
	}
	close(j->memfd);
	j->memfd = -1;
	journal_compact_fail(j, cause, 0);
}

/* Write what is left of cdata to PATH.new (in pieces if it is huge). */
static void
journal_compact_write(struct journal *j)
{
	uv_buf_t	iov;
	size_t		len = j->clen - j->coff;
	int		r;

	if (len > JOURNAL_WRITE_MAX)
		len = JOURNAL_WRITE_MAX;
	iov = uv_buf_init((char *)j->cdata + j->coff, (unsigned int)len);
	j->creq.data = j;
	r = io_fs_write(j->loop, &j->creq, j->cfd, &iov, 1, -1,
	    journal_compact_done);
	if (r != 0)
		fatalx("journal: io_fs_write: %s", uv_strerror(r));
}

/*
 * The snapshot is synced and no batch is in flight or will start: append
 * the tail, the records committed since the snapshot, renumbered after
 * it. Holding batches back from here to the directory fsync costs their
 * latency for one write and three syncs, and buys a simple rule: a record
 * is acknowledged only from the file that PATH names durably.
 */
static void
journal_compact_tail(struct journal *j)
{
	uint64_t	n, toolong;
	int		r;

	buf_reset(&j->cout);
	if (journal_frame(j, &j->cout, j->nsnap + 1, &j->tail, &n, -1,
	    &toolong) != 0) {
		journal_compact_fail(j, "giving up", 0);
		return;
	}
	if (n != j->ntail)
		fatalx("journal: %llu records in a tail of %llu",
		    (unsigned long long)n, (unsigned long long)j->ntail);
	buf_free(&j->tail);
	j->coff = 0;
	j->cdata = j->cout.data;
	j->clen = j->cout.len;
	if (j->cout.len == 0) {
		/* Nothing committed meanwhile: PATH.new is complete. */
		j->cstate = COMPACT_RENAME;
		j->creq.data = j;
		r = io_fs_rename(j->loop, &j->creq, j->newpath, j->path,
		    journal_compact_done);
		if (r != 0)
			fatalx("journal: io_fs_rename: %s", uv_strerror(r));
		return;
	}
	j->cstate = COMPACT_TAIL_WRITE;
	journal_compact_write(j);
}

/* A step of a compaction finished on the thread pool: take the next. */
static void
journal_compact_done(uv_fs_t *req)
{
	struct journal	*j = req->data;
	ssize_t		 n = req->result;
	uv_fs_type	 type = req->fs_type;
	char		*dir;
	int		 r = 0;

	uv_fs_req_cleanup(req);
	j->creq.data = j;
	switch (j->cstate) {
	case COMPACT_OPEN:
		if (n < 0) {
			journal_compact_fail(j, "open", (int)n);
			return;
		}
		j->cfd = (int)n;
		j->cstate = COMPACT_SNAP_WRITE;
		j->cdata = j->cmap;
		j->clen = j->cmaplen;
		journal_compact_write(j);
		return;
	case COMPACT_SNAP_WRITE:
	case COMPACT_TAIL_WRITE:
		if (n <= 0) {
			journal_compact_fail(j, "write", n == 0 ? UV_ENOSPC :
			    (int)n);
			return;
		}
		j->coff += (size_t)n;
		j->ctr.compact_bytes += (uint64_t)n;
		if (j->coff < j->clen) {
			journal_compact_write(j);
			return;
		}
		j->csize += j->clen;
		journal_compact_unmap(j);
		buf_free(&j->cout);
		if (j->cstate == COMPACT_SNAP_WRITE)
			j->cstate = COMPACT_SNAP_SYNC;
		else
			j->cstate = COMPACT_TAIL_SYNC;
		j->csync_t0 = uv_hrtime();
		r = io_fs_fdatasync(j->loop, &j->creq, j->cfd,
		    journal_compact_done);
		break;
	case COMPACT_SNAP_SYNC:
		stats_hist_add(&j->hsync, (int64_t)(uv_hrtime() -
		    j->csync_t0));
		if (n < 0) {
			journal_compact_fail(j, "fdatasync", (int)n);
			return;
		}
		journal_compact_step(j, "snapshot");
		j->cstate = COMPACT_WAIT;
		j->held = 1;
		if (j->state == JOURNAL_IDLE)
			journal_compact_tail(j);
		return;
	case COMPACT_TAIL_SYNC:
		stats_hist_add(&j->hsync, (int64_t)(uv_hrtime() -
		    j->csync_t0));
		if (n < 0) {
			journal_compact_fail(j, "fdatasync", (int)n);
			return;
		}
		journal_compact_step(j, "tail");
		j->cstate = COMPACT_RENAME;
		r = io_fs_rename(j->loop, &j->creq, j->newpath, j->path,
		    journal_compact_done);
		break;
	case COMPACT_RENAME:
		if (n < 0) {
			journal_compact_fail(j, "rename", (int)n);
			return;
		}
		journal_compact_step(j, "renamed");
		j->cstate = COMPACT_DIR_OPEN;
		dir = journal_dir(j->path);
		r = io_fs_open(j->loop, &j->creq, dir, O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC, 0, journal_compact_done);
		free(dir);
		break;
	case COMPACT_DIR_OPEN:
		if (n < 0) {
			journal_compact_fail(j, "open directory", (int)n);
			return;
		}
		j->dfd = (int)n;
		j->cstate = COMPACT_DIR_SYNC;
		r = io_fs_fsync(j->loop, &j->creq, j->dfd,
		    journal_compact_done);
		break;
	case COMPACT_DIR_SYNC:
		if (n < 0) {
			journal_compact_fail(j, "fsync directory", (int)n);
			return;
		}
		journal_compact_switch(j);
		return;
	case COMPACT_CLEANUP:
		if (n < 0 && type == UV_FS_CLOSE)
			log_warnx("journal: close: %s", uv_strerror((int)n));
		if (n < 0 && type == UV_FS_UNLINK && n != UV_ENOENT) {
			log_warnx("journal: %s: unlink: %s", j->newpath,
			    uv_strerror((int)n));
		}
		journal_compact_cleanup(j);
		return;
	default:
		fatalx("journal: compaction step in state %d", (int)j->cstate);
	}
	if (r != 0)
		fatalx("journal: compaction: %s", uv_strerror(r));
}

/*
 * PATH is the new journal, durably: write to it from now on, with the seqs
 * following its last record, and let the held batches go.
 */
static void
journal_compact_switch(struct journal *j)
{
	uint64_t	old = j->size;

	if (j->next_seq != j->cseq + j->ntail + 1)
		fatalx("journal: compaction lost count of records");
	j->oldfd = j->fd;
	j->fd = j->cfd;
	j->cfd = -1;
	j->size = j->csize;
	j->next_seq = j->nsnap + j->ntail + 1;
	j->base = j->csize;
	j->grown = 0;
	j->held = 0;
	j->ctr.compactions++;
	log_info("journal: compacted %llu bytes to %llu in %.3f s",
	    (unsigned long long)old, (unsigned long long)j->size,
	    (double)(uv_hrtime() - j->ct0) / 1e9);
	if (j->broken) {
		log_info("journal: %s rewritten from the committed state; "
		    "accepting changes again", j->path);
		j->broken = 0;
	}
	journal_compact_step(j, "done");
	journal_compact_cleanup(j);
	journal_kick(j);
}

/*
 * A compaction failed (err a libuv error, or 0). Before the rename PATH is
 * the old journal, untouched: drop PATH.new and the tail, keep appending
 * to the old journal and do not try again before it has grown by another
 * threshold. After the rename PATH is the new journal but its name may not
 * be durable, and no fsync can promise it is any more: the journal is
 * broken, as after a failed fdatasync.
 *
 * No failure here leaves a refused record where replay could find it, or
 * an acknowledged one only where it could not. PATH.new holds nothing but
 * records already committed to PATH (the snapshot, and the tail copied
 * from batches that committed there); a batch that failed meanwhile was
 * cut back from PATH (journal_cut) and never reached the tail. Before the
 * rename PATH.new is removed, here or, after a crash, by journal_open,
 * unread. After it, both files hold every committed record and nothing
 * else, so a crash may leave either; batches were held, and a broken
 * journal writes nothing more until a compaction has rewritten it.
 */
static void
journal_compact_fail(struct journal *j, const char *what, int err)
{
	if (j->cstate == COMPACT_DIR_OPEN || j->cstate == COMPACT_DIR_SYNC) {
		journal_break(j, what, err);
		j->oldfd = j->fd;
		j->fd = j->cfd;
		j->cfd = -1;
		j->size = j->csize;
		j->next_seq = j->nsnap + j->ntail + 1;
	} else {
		if (err != 0) {
			log_warnx("journal: compaction: %s: %s: %s",
			    j->newpath, what, uv_strerror(err));
		} else
			log_warnx("journal: compaction: %s", what);
		j->unlink_new = 1;
	}
	buf_free(&j->tail);
	buf_free(&j->cout);
	journal_compact_unmap(j);
	j->ntail = 0;
	j->grown = 0;
	j->held = 0;
	j->ctr.compact_failed++;
	journal_compact_step(j, "failed");
	journal_compact_cleanup(j);
	journal_kick(j);
}

/*
 * Close what a compaction left open and remove PATH.new if it must go,
 * one step at a time on the thread pool; then the compaction is over.
 */
static void
journal_compact_cleanup(struct journal *j)
{
	int	fd, r;

	j->cstate = COMPACT_CLEANUP;
	j->creq.data = j;
	if (j->dfd != -1 || j->cfd != -1 || j->oldfd != -1) {
		if (j->dfd != -1) {
			fd = j->dfd;
			j->dfd = -1;
		} else if (j->cfd != -1) {
			fd = j->cfd;
			j->cfd = -1;
		} else {
			fd = j->oldfd;
			j->oldfd = -1;
		}
		r = io_fs_close(j->loop, &j->creq, fd, journal_compact_done);
	} else if (j->unlink_new) {
		j->unlink_new = 0;
		r = io_fs_unlink(j->loop, &j->creq, j->newpath,
		    journal_compact_done);
	} else {
		j->cstate = COMPACT_NONE;
		return;
	}
	if (r != 0)
		fatalx("journal: compaction: %s", uv_strerror(r));
}

/* A mapping being dropped on the thread pool. */
struct journal_unmap {
	uv_work_t	 work;
	void		*addr;
	size_t		 len;
	int		 error;
};

/* On the thread pool: drop the mapping. */
static void
journal_unmap_work(uv_work_t *w)
{
	struct journal_unmap	*u = w->data;

	u->error = munmap(u->addr, u->len) == -1 ? errno : 0;
}

/* Back on the loop: the mapping is gone. */
static void
journal_unmap_done(uv_work_t *w, int status)
{
	struct journal_unmap	*u = w->data;

	(void)status;
	if (u->error != 0)
		log_warnx("journal: compaction: munmap: %s",
		    strerror(u->error));
	free(u);
}

/*
 * Drop the snapshot's mapping, if any, and with it the memfd's pages, on
 * the thread pool: freeing the pages of a snapshot of a million jobs
 * (300 MB) takes 70 ms, which the loop must not spend.
 */
static void
journal_compact_unmap(struct journal *j)
{
	struct journal_unmap	*u;
	int			 r;

	if (j->cmap != NULL) {
		u = xcalloc(1, sizeof *u);
		u->addr = j->cmap;
		u->len = j->cmaplen;
		u->work.data = u;
		if ((r = uv_queue_work(j->loop, &u->work, journal_unmap_work,
		    journal_unmap_done)) != 0)
			fatalx("journal: uv_queue_work: %s", uv_strerror(r));
	}
	j->cmap = NULL;
	j->cmaplen = 0;
	j->cdata = NULL;
	j->clen = 0;
}

/* Tell the test hook, if any, that a compaction reached a step. */
static void
journal_compact_step(struct journal *j, const char *step)
{
	if (journal_compact_hook != NULL)
		journal_compact_hook(j, step);
}
