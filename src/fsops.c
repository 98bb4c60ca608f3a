/*
 * fsops.c: the mount tree and its rules, as a fuse_lowlevel_ops table.
 *
 *     /            pending/ active/ failed/ complete/ new-id config.json
 *     pending/     drafts (.NAME), jobs being written, queued jobs
 *     active/      running jobs: read = output of the running attempt
 *     failed/      read = every attempt, each after a line filed writes
 *     complete/    read = output of the successful attempt
 *
 * Inodes are fixed for the tree (1-7) and 16 + id for jobs, so a job keeps
 * its inode as it moves. Job entries and attributes are never cached by the
 * kernel (timeouts 0) and job files are direct_io: names the daemon moves
 * and logs that grow are never stale, and tail -f works.
 *
 * Every request is answered exactly once. A request that changes state is
 * answered from the journal's commit callback, after its record is on
 * stable storage; one that finds its job with a record still in flight
 * waits for it (queue_wait) and is then handled afresh against the new
 * state. The count of such parked requests must reach zero before filed
 * unmounts.
 *
 * Why a new job is committed in FLUSH: flush runs on every close() and its
 * reply is what close() returns; RELEASE's result never reaches the user.
 * So close() returning 0 means the job is durable. Shells ignore close(),
 * so every error that can be known earlier is reported earlier: a bad name
 * at create, a job over max_job_size at write (EFBIG), a config.json that
 * is already a complete but invalid document at write (EINVAL).
 *
 * config.json is glue here: a handle collects what is written, and its
 * close hands the document to config.c, which owns the settings and
 * answers once they are durable and in force.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <uv.h>

#include "filed.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE		(1 << 1)
#endif

#define FIXED_TIMEOUT	1.0	/* the tree itself never moves */
#define CREATE_ATTR_TIMEOUT 1.0	/* a job's attributes, as it is created */
#define XATTR_PREFIX	"user.filed."
#define XATTR_PREFIX_LEN (sizeof XATTR_PREFIX - 1)

enum hkind {
	H_DIR,		/* a directory listing, snapshot at opendir */
	H_WAIT,		/* wait/NAME (wait.c) */
	H_EVENTS,	/* events (events.c) */
	H_STATS,	/* stats: a snapshot taken at open (stats.c) */
	H_TEXT,		/* read a pending job's or draft's script */
	H_WRITER,	/* write a new job or edit a draft */
	H_LOG,		/* read active/, failed/, complete/ */
	H_NEWID,
	H_CONFIG
};

struct dent {
	fuse_ino_t	 ino;
	mode_t		 type;
	size_t		 name;		/* offset in the handle's buf */
};

struct handle {
	enum hkind	 kind;
	struct job	*job;
	int		 refs;
	struct logref	*lr;		/* H_LOG: the log, or NULL */
	struct wait	*wait;		/* H_WAIT */
	struct events_reader *events;	/* H_EVENTS */
	int		 all;		/* H_LOG: failed/ view */
	unsigned	 attempt;	/* H_LOG: 0 = last */
	int		 writing;	/* H_CONFIG opened for writing */
	int		 dirty;		/* H_CONFIG: written since open */
	int		 error;		/* sticky: reported at write and flush */
	int		 creator;	/* H_WRITER that created its job */
	int		 creating;	/* on fs.creating */
	uint64_t	 created;	/* uv_now when the create came */
	TAILQ_ENTRY(handle) centry;
	TAILQ_ENTRY(handle) hentry;	/* fs.handles */
	struct buf	 buf;		/* H_DIR names; H_NEWID, H_CONFIG text */
	struct dent	*ents;
	size_t		 nents;
	size_t		 entcap;
};

enum opkind {
	OP_FLUSH,
	OP_FSYNC,
	OP_UNLINK,
	OP_RENAME,
	OP_SETATTR,
	OP_NEWID,
	OP_SETXATTR,
	OP_REMOVEXATTR
};

/* A request that is answered later: after a commit or a wait. */
struct op {
	enum opkind	 kind;
	fuse_req_t	 req;
	fuse_ino_t	 ino;
	fuse_ino_t	 parent;
	fuse_ino_t	 newparent;
	char		*name;
	char		*newname;
	char		*value;		/* OP_SETXATTR: vlen bytes, then NUL */
	size_t		 vlen;
	unsigned	 flags;
	struct handle	*h;
	struct stat	 attr;
	int		 to_set;
	struct fuse_file_info fi;
	unsigned	 gen;		/* the text's generation being saved */
	int		 saves;		/* it saves a job's text (text.c) */
	int		 rv;
};

static struct {
	struct conf	*conf;
	char		*statedir;
	unsigned	 parked;
	uid_t		 uid;
	gid_t		 gid;
	unsigned	 ncreating;	/* creates whose close is due */
	TAILQ_HEAD(, handle) creating;	/* the same, oldest first */
	TAILQ_HEAD(, handle) handles;	/* every open handle */
	uv_loop_t	*loop;
	uv_timer_t	 linger;
} fs;

static void	 fill_attr(fuse_ino_t, struct stat *);
static mode_t	 job_mode(const struct job *);
static int	 job_attr(struct job *, struct stat *);
static uint64_t	 job_size(struct job *);
static uint64_t	 log_eof(struct job *, int);
static int	 logref_get(struct job *, struct logref **);
static void	 logref_put(struct job *, struct logref *);
static void	 reply_entry(fuse_req_t, fuse_ino_t);
static struct handle *handle_new(enum hkind, struct job *);
static void	 creator_released(struct handle *);
static void	 new_released(struct job *);
static void	 new_saved(void *, int);
static void	 creating_begin(struct handle *);
static void	 creating_end(struct handle *);
static void	 linger_fired(uv_timer_t *);
static int	 writable(const struct handle *);
static void	 handle_unref(struct handle *);
static struct op *op_new(enum opkind, fuse_req_t);
static void	 op_free(struct op *);
static void	 op_retry(void *);
static void	 op_done(void *, int);
static void	 op_run(struct op *);
static struct job *dir_lookup(fuse_ino_t, const char *);
static struct job *wait_job(fuse_ino_t);
static void	 wait_attr(struct job *, struct stat *);
static void	 do_flush(struct op *);
static void	 flush_or_fsync(enum opkind, fuse_req_t,
		    struct fuse_file_info *);
static void	 do_unlink(struct op *);
static void	 do_rename(struct op *);
static void	 do_setattr(struct op *);
static void	 do_newid(struct op *);
static void	 do_xattr(struct op *);
static void	 do_config_flush(struct op *);
static void	 op_config_done(void *, int);

/* Set up the tree, with the settings in force in conf. */
void
fsops_init(uv_loop_t *loop, const char *statedir, struct conf *conf)
{
	memset(&fs, 0, sizeof fs);
	fs.loop = loop;
	TAILQ_INIT(&fs.creating);
	TAILQ_INIT(&fs.handles);
	uv_timer_init(loop, &fs.linger);
	fs.statedir = xstrdup(statedir);
	fs.conf = conf;
	fs.uid = getuid();
	fs.gid = getgid();
	events_init(loop);
}

/* Return the number of requests still waiting for an answer. */
unsigned
fsops_parked(void)
{
	return fs.parked + wait_parked() + events_parked();
}

/*
 * filed stops: answer the reads that wait for something to happen (of
 * wait/NAME and events), which nothing will any more.
 */
void
fsops_stopping(void)
{
	wait_stop();
	events_stop();
}

/* Release what fsops_init took. */
void
fsops_free(void)
{
	struct handle	*h;

	/*
	 * Files still open when the mount went away are never released:
	 * drop them (a job being written stays what the journal says).
	 */
	while ((h = TAILQ_FIRST(&fs.handles)) != NULL) {
		TAILQ_REMOVE(&fs.handles, h, hentry);
		if (h->wait != NULL)
			wait_release(h->wait);
		if (h->events != NULL)
			events_release(h->events);
		if (h->lr != NULL)
			logref_put(h->job, h->lr);
		if (h->kind == H_WRITER)
			text_detach(h->job);
		free(h->ents);
		buf_free(&h->buf);
		free(h);
	}
	free(fs.statedir);
	fs.statedir = NULL;
}

/* Fill the attributes of a fixed inode. */
static void
fill_attr(fuse_ino_t ino, struct stat *st)
{
	struct node	*n = queue_node(ino);

	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
	    n->mtime / 1000000000;
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec =
	    n->mtime % 1000000000;
	if (ino == INO_CONFIG) {
		char *json = config_json();

		st->st_size = (off_t)strlen(json);
		free(json);
	}
}

/*
 * A job's log opened once for all its readers: opening active/NAME twenty
 * thousand times costs filed one descriptor, not twenty thousand. A new
 * log file (the first attempt of a rerun) gets a new one (run.c drops the
 * job's logref), while readers of the old file keep theirs.
 */
struct logref {
	int		 fd;
	unsigned	 refs;
};

/*
 * Take a reference to job's shared log into *lrp (NULL if the job has no
 * log file: it reads empty). Returns 0 or a negative errno.
 */
static int
logref_get(struct job *job, struct logref **lrp)
{
	struct job_live	*l = queue_live(job);
	struct logref	*lr;
	char		*path;
	int		 fd, e;

	*lrp = NULL;
	if ((lr = l->logref) != NULL) {
		lr->refs++;
		*lrp = lr;
		return 0;
	}
	path = run_log_path(job);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	e = errno;
	if (fd == -1 && e != ENOENT)
		log_warnx("job '%s': open %s: %s", job->name, path,
		    strerror(e));
	free(path);
	if (fd == -1)
		return e == ENOENT ? 0 : -e;
	lr = xmalloc(sizeof *lr);
	lr->fd = fd;
	lr->refs = 1;
	l->logref = *lrp = lr;
	return 0;
}

/* Drop a reference to a shared log; the last one closes it. */
static void
logref_put(struct job *job, struct logref *lr)
{
	if (--lr->refs > 0)
		return;
	if (job->live != NULL && job->live->logref == lr)
		job->live->logref = NULL;
	close(lr->fd);
	free(lr);
}

/* The end of a job's log: from the open fd if any, else the file. */
static uint64_t
log_eof(struct job *job, int fd)
{
	struct stat	 st;
	char		*path;
	int		 rv;

	if (fd == -1)
		fd = run_log_fd(job);
	if (fd != -1)
		return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	path = run_log_path(job);
	rv = stat(path, &st);
	free(path);
	return rv == 0 ? (uint64_t)st.st_size : 0;
}

/* The number of bytes a read of the job's file returns now. */
static uint64_t
job_size(struct job *job)
{
	struct view	v;
	uint64_t	size;
	size_t		len;

	switch (job->state) {
	case JOB_NEW:
	case JOB_DRAFT:
	case JOB_PENDING:
		text_data(job, &len);
		return len;
	default:
		break;
	}
	view_build(&v, job, 0, job->state == JOB_FAILED,
	    log_eof(job, -1));
	size = v.size;
	view_free(&v);
	return size;
}

/*
 * The mode a job file shows: its permission bits (0640 unless chmod'ed),
 * without the write bits once its text is fixed (queued, running or
 * finished), as writing it is refused then whatever the bits say.
 */
static mode_t
job_mode(const struct job *job)
{
	if (queue_text_fixed(job))
		return job->mode & ~(mode_t)0222;
	return job->mode;
}

/* Fill the attributes of a job file. */
static int
job_attr(struct job *job, struct stat *st)
{
	struct node	*dir = queue_node(queue_dir_of(job));

	memset(st, 0, sizeof *st);
	st->st_ino = queue_ino(job);
	st->st_mode = S_IFREG | job_mode(job);
	st->st_nlink = job->gone ? 0 : 1;
	st->st_uid = job->uid;
	st->st_gid = job->grpset ? job->gid : dir->gid;
	st->st_size = (off_t)job_size(job);
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
	    job->mtime / 1000000000;
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec =
	    job->mtime % 1000000000;
	return 0;
}

/* Reply to a lookup or create of ino with its attributes. */
static void
reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param	 e;
	struct job		*job;

	memset(&e, 0, sizeof e);
	e.ino = ino;
	if ((job = wait_job(ino)) != NULL) {
		wait_attr(job, &e.attr);
		if (fuse_reply_entry(req, &e) == 0)
			queue_lookup(job);
		return;
	}
	if ((job = queue_by_ino(ino)) != NULL) {
		job_attr(job, &e.attr);
		if (fuse_reply_entry(req, &e) == 0)
			queue_lookup(job);
		return;
	}
	fill_attr(ino, &e.attr);
	e.attr_timeout = FIXED_TIMEOUT;
	e.entry_timeout = FIXED_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* The job whose wait/NAME file ino is, or NULL. */
static struct job *
wait_job(fuse_ino_t ino)
{
	if ((ino & INO_WAIT_BIT) == 0)
		return NULL;
	return queue_by_id(ino & ~INO_WAIT_BIT);
}

/*
 * Fill the attributes of wait/NAME: the job's owner, group and read bits
 * (waiting for a job is reading it), its times, and no size.
 */
static void
wait_attr(struct job *job, struct stat *st)
{
	job_attr(job, st);
	st->st_ino = INO_WAIT_BIT | job->id;
	st->st_mode = S_IFREG | (st->st_mode & 0444);
	st->st_size = 0;
	st->st_blocks = 0;
}

/* Find the job called name in directory ino. */
static struct job *
dir_lookup(fuse_ino_t parent, const char *name)
{
	struct job	*job;

	if (parent < INO_PENDING || parent > INO_COMPLETE)
		return NULL;
	if ((job = queue_by_name(name)) == NULL ||
	    (fuse_ino_t)queue_dir_of(job) != parent)
		return NULL;
	return job;
}

/*
 * May a writer handle change its job's text? A job being written, through
 * its creator's open file, and a draft (or one being created), through
 * any: a draft's text is shared like a file's (text.c).
 */
static int
writable(const struct handle *h)
{
	const struct job	*job = h->job;

	if (job->gone)
		return 0;
	if (job->state == JOB_NEW)
		return h->creator || queue_draftlike(job);
	if (job->state == JOB_DRAFT)
		return h->creator || !job->unreleased;
	return 0;
}

/* Make a handle; it holds a reference on its job. */
static struct handle *
handle_new(enum hkind kind, struct job *job)
{
	struct handle	*h;

	h = xcalloc(1, sizeof *h);
	h->kind = kind;
	h->job = job;
	h->refs = 1;
	TAILQ_INSERT_TAIL(&fs.handles, h, hentry);
	buf_init(&h->buf);
	if (job != NULL)
		queue_live(job)->nopen++;
	return h;
}

/* Drop a reference to a handle; the last one frees it. */
static void
handle_unref(struct handle *h)
{
	if (--h->refs > 0)
		return;
	if (h->job != NULL) {
		if (h->creator)
			creator_released(h);
		if (--h->job->live->nopen == 0 && h->job->state == JOB_NEW &&
		    !h->job->gone)
			new_released(h->job);
		if (h->kind == H_WRITER)
			text_detach(h->job);
	}
	creating_end(h);
	if (h->wait != NULL)
		wait_release(h->wait);
	if (h->events != NULL)
		events_release(h->events);
	if (h->lr != NULL)
		logref_put(h->job, h->lr);
	if (h->job != NULL)
		queue_unref(h->job);
	TAILQ_REMOVE(&fs.handles, h, hentry);
	free(h->ents);
	buf_free(&h->buf);
	free(h);
}

/*
 * Group commit with many writers. A batch goes out when the one before it
 * is done, with what has queued meanwhile; with many writers each batch
 * would then hold only the jobs whose close happened to come while the
 * last fdatasync ran, the others' closes following one request behind.
 * So while new jobs are being created (CREATE seen, close not yet), the
 * journal is corked: the batch starts when the last of them closes, or
 * every LINGER_MS while creates keep coming. A create counts for two
 * LINGER_MS at most (a writer that holds its file open for long holds
 * nothing back). A lone writer's close finds no other create open, so it
 * is never delayed.
 */
#define LINGER_MS	1

/* A create has begun whose close should join the next batch. */
static void
creating_begin(struct handle *h)
{
	h->creating = 1;
	h->created = uv_now(fs.loop);
	TAILQ_INSERT_TAIL(&fs.creating, h, centry);
	if (fs.ncreating++ == 0) {
		queue_cork(1);
		uv_timer_start(&fs.linger, linger_fired, LINGER_MS, LINGER_MS);
	}
}

/* The create's close (or release) came: its record is queued. */
static void
creating_end(struct handle *h)
{
	if (!h->creating)
		return;
	h->creating = 0;
	TAILQ_REMOVE(&fs.creating, h, centry);
	if (--fs.ncreating == 0) {
		uv_timer_stop(&fs.linger);
		queue_cork(0);
	}
}

/* Creates keep coming: let what has queued go out; forget old creates. */
static void
linger_fired(uv_timer_t *t)
{
	struct handle	*h;
	uint64_t	 now = uv_now(fs.loop);

	queue_push();
	while ((h = TAILQ_FIRST(&fs.creating)) != NULL &&
	    now - h->created >= 2 * LINGER_MS)
		creating_end(h);
}

/*
 * The creating open file of a job is released (its last descriptor closed,
 * in every process that had it): its text is final. A job saved at an
 * earlier close of it may now run (run_released); one whose save was
 * refused, or that has no text, never does and is removed. A draft made
 * by it may now be renamed. Why the release and not a close decides: see
 * the top of this file.
 */
static void
creator_released(struct handle *h)
{
	struct job	*job = h->job;

	job->held = 0;
	if (job->gone || job->state != JOB_DRAFT || !job->unreleased)
		return;
	if (h->error != 0 || text_dirty(job)) {
		log_warnx("job '%s': removed, not run: a write or close of it "
		    "failed", job->name);
		queue_remove(job, NULL, NULL);
	} else if (job->textlen == 0) {
		log_warnx("job '%s': removed, not run: it has no text",
		    job->name);
		queue_remove(job, NULL, NULL);
	} else
		run_released(job);
}

/*
 * The last open file of a job never saved is released: nothing was
 * written (touch, an empty redirect), or every write was refused. An empty
 * draft is saved now; a job with no text is never queued, so that a file
 * a tool makes only to see whether it can (vim's "4913") runs nothing.
 * A refused save leaves nothing behind.
 */
static void
new_released(struct job *job)
{
	const char	*text;
	size_t		 len;

	/*
	 * Its save at an earlier release is in flight (the creator let go,
	 * then another open file of the draft came and went): that one
	 * makes it a draft, or drops it.
	 */
	if (queue_inflight(job) != 0)
		return;
	text = text_data(job, &len);
	if (job->live->refused) {
		queue_abandon(job);
		return;
	}
	if (len == 0 && !queue_draftlike(job)) {
		log_info("job '%s': closed without any text: not queued",
		    job->name);
		queue_abandon(job);
		return;
	}
	log_debug("job '%s': saved as its last open file is released",
	    job->name);
	queue_submit(job, text, len, 0, new_saved, job);
}

/* A job saved as its last open file was released is durable, or not. */
static void
new_saved(void *arg, int error)
{
	struct job	*job = arg;

	if (error == 0 || job->state != JOB_NEW)
		return;
	log_warnx("job '%s': not kept: it could not be saved: %s", job->name,
	    strerror(-error));
	queue_abandon(job);
}

/* Park a request. */
static struct op *
op_new(enum opkind kind, fuse_req_t req)
{
	struct op	*op;

	op = xcalloc(1, sizeof *op);
	op->kind = kind;
	op->req = req;
	fs.parked++;
	return op;
}

/* Forget a parked request once it is answered. */
static void
op_free(struct op *op)
{
	if (op->h != NULL)
		handle_unref(op->h);
	free(op->name);
	free(op->newname);
	free(op->value);
	free(op);
	fs.parked--;
}

/* Handle a parked request again, now that its job is settled. */
static void
op_retry(void *arg)
{
	op_run(arg);
}

/* Dispatch a parked request. */
static void
op_run(struct op *op)
{
	switch (op->kind) {
	case OP_FLUSH:
	case OP_FSYNC:
		do_flush(op);
		break;
	case OP_UNLINK:
		do_unlink(op);
		break;
	case OP_RENAME:
		do_rename(op);
		break;
	case OP_SETATTR:
		do_setattr(op);
		break;
	case OP_NEWID:
		do_newid(op);
		break;
	case OP_SETXATTR:
	case OP_REMOVEXATTR:
		do_xattr(op);
		break;
	}
}

/* A commit on behalf of a request is done: answer it. */
static void
op_done(void *arg, int error)
{
	struct op	*op = arg;
	struct stat	 st;
	struct job	*job;

	if (error != 0) {
		static const char *what[] = { "close", "fsync", "rm", "mv",
		    "chmod/chown", "new-id", "setfattr", "setfattr -x" };

		job = op->h != NULL ? op->h->job : NULL;
		if (op->kind == OP_SETXATTR || op->kind == OP_REMOVEXATTR) {
			job = queue_by_ino(op->ino);
			log_warnx("job '%s': %s %s failed, nothing changed: %s",
			    job != NULL ? job->name : "", what[op->kind],
			    op->name, strerror(-error));
		} else
			log_warnx("%s '%s' failed, nothing changed: %s",
			    what[op->kind], op->name != NULL ? op->name :
			    job != NULL ? job->name : "", strerror(-error));
		if (op->saves && op->h != NULL && op->h->creator &&
		    !queue_draftlike(job)) {
			/*
			 * A job whose save failed never runs, not even with
			 * what an earlier close saved: every later write and
			 * close of its creator fails too, and it is removed
			 * when the creator lets go (creator_released).
			 */
			op->h->error = -error;
			if (job->state == JOB_NEW)
				queue_abandon(job);
		}
		fuse_reply_err(op->req, -error);
		op_free(op);
		return;
	}
	if (op->saves && (job = queue_by_ino(op->ino)) != NULL)
		text_saved(job, op->gen);
	switch (op->kind) {
	case OP_SETATTR:
		if ((job = queue_by_ino(op->ino)) != NULL)
			job_attr(job, &st);
		else
			fill_attr(op->ino, &st);
		fuse_reply_attr(op->req, &st, job != NULL ? 0 : FIXED_TIMEOUT);
		break;
	case OP_NEWID:
		do_newid(op);
		return;
	default:
		fuse_reply_err(op->req, op->rv);
		break;
	}
	op_free(op);
}

/* FUSE init: keep libfuse's defaults, which suit a single thread. */
static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

/* Look a name up in a directory. */
static void
fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	static const char *top[] = { "pending", "active", "failed",
	    "complete", "new-id", "config.json", "wait", "events", "stats" };
	struct job	*job;
	size_t		 i;

	if (parent == INO_ROOT) {
		for (i = 0; i < sizeof top / sizeof top[0]; i++) {
			if (strcmp(name, top[i]) == 0) {
				reply_entry(req, INO_PENDING + i);
				return;
			}
		}
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (parent == INO_WAIT) {
		/* Any job, wherever it is; a name nobody has: ENOENT. */
		if ((job = queue_by_name(name)) == NULL) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		reply_entry(req, INO_WAIT_BIT | job->id);
		return;
	}
	if ((job = dir_lookup(parent, name)) == NULL) {
		fuse_reply_err(req, parent >= INO_PENDING &&
		    parent <= INO_COMPLETE ? ENOENT : ENOTDIR);
		return;
	}
	reply_entry(req, queue_ino(job));
}

/* Drop n kernel references to ino. */
static void
forget_one(fuse_ino_t ino, uint64_t n)
{
	struct job	*job;

	if ((job = wait_job(ino)) == NULL && (job = queue_by_ino(ino)) == NULL)
		return;
	job->nlookup = n >= job->nlookup ? 0 : job->nlookup - n;
	queue_unref(job);
}

/* The kernel forgets an inode. */
static void
fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

/* The kernel forgets many inodes. */
static void
fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	size_t	i;

	for (i = 0; i < count; i++)
		forget_one(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

/* stat(). */
static void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat	 st;
	struct job	*job;

	if ((job = wait_job(ino)) != NULL) {
		wait_attr(job, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if ((job = queue_by_ino(ino)) != NULL) {
		job_attr(job, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if (queue_node(ino) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, FIXED_TIMEOUT);
}

/* chmod, chown, truncate, utimes. */
static void
fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct op	*op;

	op = op_new(OP_SETATTR, req);
	op->ino = ino;
	op->attr = *attr;
	op->to_set = to_set;
	if (fi != NULL && fi->fh != 0) {
		op->h = (struct handle *)(uintptr_t)fi->fh;
		op->h->refs++;
	}
	do_setattr(op);
}

/* Carry out a setattr; may wait for the job or for a commit. */
static void
do_setattr(struct op *op)
{
	struct job	*job;
	struct node	*n;
	struct stat	 st;
	struct handle	*h = op->h;
	struct buf	 b;
	const char	*text;
	uint64_t	 size, max;
	size_t		 len;
	int		 set = op->to_set, error, grp;
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;

	if (wait_job(op->ino) != NULL) {
		error = EPERM;		/* wait/NAME is the job's, read-only */
		goto fail;
	}
	if ((job = queue_by_ino(op->ino)) == NULL) {
		if ((n = queue_node(op->ino)) == NULL) {
			error = ENOENT;
			goto fail;
		}
		if (set & FUSE_SET_ATTR_SIZE) {
			if (op->ino != INO_CONFIG || h == NULL ||
			    h->kind != H_CONFIG || !h->writing) {
				error = op->ino == INO_CONFIG ? EINVAL : EPERM;
				goto fail;
			}
			if (h->error == 0 &&
			    (uint64_t)op->attr.st_size > CONF_JSON_MAX) {
				log_warnx("config.json: truncated to more than "
				    "%d bytes", CONF_JSON_MAX);
				h->error = EINVAL;
			}
			if (h->error != 0) {
				/* Refused now, and at close. */
				error = h->error;
				goto fail;
			}
			if ((size_t)op->attr.st_size < h->buf.len)
				h->buf.len = (size_t)op->attr.st_size;
			else
				buf_set(&h->buf, (size_t)op->attr.st_size, "",
				    0);
			h->dirty = 1;
		}
		if ((set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		    FUSE_SET_ATTR_GID)) == 0) {
			fill_attr(op->ino, &st);
			fuse_reply_attr(op->req, &st, FIXED_TIMEOUT);
			op_free(op);
			return;
		}
		if (op->ino == INO_ROOT) {
			error = EPERM;
			goto fail;
		}
		mode = set & FUSE_SET_ATTR_MODE ? op->attr.st_mode : n->mode;
		uid = set & FUSE_SET_ATTR_UID ? op->attr.st_uid : n->uid;
		gid = set & FUSE_SET_ATTR_GID ? op->attr.st_gid : n->gid;
		queue_set_node(op->ino, mode, uid, gid, op_done, op);
		return;
	}

	if (job->gone) {
		error = ENOENT;
		goto fail;
	}
	if (set & FUSE_SET_ATTR_SIZE) {
		size = (uint64_t)op->attr.st_size;
		max = (uint64_t)fs.conf->max_job_size;
		if (h != NULL && h->kind == H_WRITER && writable(h)) {
			/* ftruncate: the shared text, saved at close. */
			if (h->error == 0 && text_truncate(job, size, max) != 0) {
				log_warnx("job '%s': refused: larger than "
				    "max_job_size (%lld bytes)", job->name,
				    (long long)fs.conf->max_job_size);
				h->error = EFBIG;
				if (job->state == JOB_NEW)
					job->live->refused = 1;
			}
			if (h->error != 0) {
				error = h->error;
				goto fail;
			}
		} else if (job->state == JOB_DRAFT &&
		    !(job->unreleased && job->held)) {
			/* truncate(2) of a draft: saved now. */
			if (size > max) {
				error = EFBIG;
				goto fail;
			}
			if (queue_inflight(job) != 0) {
				queue_wait(job, op_retry, op);
				return;
			}
			buf_init(&b);
			if (job->live != NULL && job->live->work != NULL) {
				text_truncate(job, size, max);
				op->gen = text_gen(job);
				op->saves = 1;
			}
			text = text_data(job, &len);
			buf_add(&b, text, len < size ? len : (size_t)size);
			if (size > len)
				buf_set(&b, (size_t)size, "", 0);
			queue_set_text(job, b.data != NULL ? b.data : "",
			    b.len, op_done, op);
			buf_free(&b);
			return;
		} else {
			error = job->state == JOB_NEW ||
			    job->state == JOB_DRAFT ? EBUSY : EACCES;
			goto fail;
		}
	}
	if (set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
	    FUSE_SET_ATTR_GID)) {
		/*
		 * chmod and chown of a job: the kernel has checked that the
		 * caller may (the owner, or root for a new owner). A job's
		 * mode, owner and group are its own, as a file's: cp -p,
		 * install and rsync set them on what they write.
		 */
		mode = set & FUSE_SET_ATTR_MODE ? op->attr.st_mode & 0777 :
		    job->mode;
		uid = set & FUSE_SET_ATTR_UID ? op->attr.st_uid : job->uid;
		gid = job->gid;
		grp = job->grpset;
		job_attr(job, &st);
		if ((set & FUSE_SET_ATTR_GID) && op->attr.st_gid != st.st_gid) {
			gid = op->attr.st_gid;
			grp = 1;
		}
		if (mode != job->mode || uid != job->uid || gid != job->gid ||
		    grp != job->grpset) {
			if (job->state == JOB_NEW) {
				/* Saved with the job, at its first close. */
				job->mode = mode;
				job->uid = uid;
				job->gid = gid;
				job->grpset = grp;
			} else if (queue_inflight(job) != 0) {
				queue_wait(job, op_retry, op);
				return;
			} else {
				log_debug("job '%s': mode %03o, owner %lu, "
				    "group %lu", job->name, (unsigned)mode,
				    (unsigned long)uid, (unsigned long)gid);
				queue_set_attr(job, mode, uid, gid, grp,
				    op_done, op);
				return;
			}
		}
	}
	/*
	 * A job's times are its state changes, filed's to keep: utimes (and
	 * touch of a job) succeeds and changes nothing, as cp -p and rsync
	 * set the times of what they write.
	 */
	job_attr(job, &st);
	fuse_reply_attr(op->req, &st, 0);
	op_free(op);
	return;

fail:
	fuse_reply_err(op->req, error);
	op_free(op);
}

/* Refuse an operation that the tree never allows. */
static void
fs_refuse(fuse_req_t req, const char *what, const char *name)
{
	log_warnx("%s '%s' refused: not allowed in the filed mount", what,
	    name);
	fuse_reply_err(req, EPERM);
}

/* mknod: never. */
static void
fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	fs_refuse(req, "mknod", name);
}

/* mkdir: never. */
static void
fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fs_refuse(req, "mkdir", name);
}

/* rmdir: never. */
static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_refuse(req, "rmdir", name);
}

/* symlink: never. */
static void
fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	fs_refuse(req, "symlink", name);
}

/* link: never. */
static void
fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname)
{
	fs_refuse(req, "link", newname);
}

/* rm. */
static void
fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct op	*op;

	op = op_new(OP_UNLINK, req);
	op->parent = parent;
	op->name = xstrdup(name);
	do_unlink(op);
}

/* Carry out an unlink; may wait for the job or for a commit. */
static void
do_unlink(struct op *op)
{
	struct job	*job;

	if (op->parent == INO_ROOT || op->parent == INO_WAIT) {
		log_warnx("rm '%s' refused: the tree itself cannot be removed",
		    op->name);
		fuse_reply_err(op->req, EPERM);
		op_free(op);
		return;
	}
	if ((job = dir_lookup(op->parent, op->name)) == NULL) {
		fuse_reply_err(op->req, ENOENT);
		op_free(op);
		return;
	}
	if (queue_inflight(job) != 0) {
		queue_wait(job, op_retry, op);
		return;
	}
	log_debug("job '%s': removed from %s", job->name,
	    queue_state_name(job->state));
	queue_remove(job, op_done, op);
}

/* mv. */
static void
fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct op	*op;

	op = op_new(OP_RENAME, req);
	op->parent = parent;
	op->newparent = newparent;
	op->name = xstrdup(name);
	op->newname = xstrdup(newname);
	op->flags = flags;
	do_rename(op);
}

/*
 * Carry out a rename. The allowed moves: within pending/ (a draft queued
 * by losing its dot, a job renamed), failed/ or complete/ to pending/ (run
 * again), active/ to failed/ (cancel). Everything else is EPERM, never
 * EXDEV: on EXDEV mv(1) would copy and delete instead.
 */
static void
do_rename(struct op *op)
{
	struct job	*job, *other;
	char		 pbuf[80];
	int		 error, replace;
	int		 from = (int)op->parent, to = (int)op->newparent;

	if (op->flags & ~(unsigned)RENAME_NOREPLACE) {
		error = EINVAL;
		goto fail;
	}
	if (from == INO_ROOT || to == INO_ROOT || from == INO_WAIT ||
	    to == INO_WAIT) {
		log_warnx("mv '%s' refused: the tree itself cannot be renamed",
		    op->name);
		error = EPERM;
		goto fail;
	}
	if ((job = dir_lookup(op->parent, op->name)) == NULL) {
		error = ENOENT;
		goto fail;
	}
	if (queue_inflight(job) != 0) {
		queue_wait(job, op_retry, op);
		return;
	}
	if ((error = -util_valid_name(op->newname,
	    strlen(op->newname))) != 0) {
		log_warnx("mv '%s' to '%s' refused: a job name has no control "
		    "characters", op->name, util_printable(op->newname, pbuf,
		    sizeof pbuf));
		goto fail;
	}
	other = queue_by_name(op->newname);
	if (other == job && from == to) {
		fuse_reply_err(op->req, 0);
		op_free(op);
		return;
	}
	/*
	 * A draft renamed onto a draft replaces it, as an editor saves a
	 * file by renaming a temporary one over it. Any other name in use
	 * is EEXIST: filed never replaces a job.
	 */
	replace = other != NULL && other != job && from == INO_PENDING &&
	    to == INO_PENDING && !(op->flags & RENAME_NOREPLACE) &&
	    job->state == JOB_DRAFT && other->state == JOB_DRAFT;
	if (replace && queue_inflight(other) != 0) {
		queue_wait(other, op_retry, op);
		return;
	}
	if ((other != NULL && other != job && !replace) ||
	    (other == NULL && !queue_name_free(op->newname))) {
		log_warnx("mv '%s' to '%s' refused: the name is taken",
		    op->name, op->newname);
		error = EEXIST;
		goto fail;
	}
	if (from == INO_PENDING && to == INO_PENDING)
		error = -queue_rename(job, op->newname, replace ? other : NULL,
		    op_done, op);
	else if ((from == INO_FAILED || from == INO_COMPLETE) &&
	    to == INO_PENDING)
		error = -queue_rerun(job, op->newname, op_done, op);
	else if (from == INO_ACTIVE && to == INO_FAILED)
		error = -queue_cancel(job, op->newname, op_done, op);
	else
		error = EPERM;
	if (error == 0)
		return;
	if (error == EPERM)
		log_warnx("mv '%s' refused: that move is not allowed",
		    op->name);
	else if (error == EBUSY)
		log_warnx("mv '%s' refused: it is still being written",
		    op->name);

fail:
	fuse_reply_err(op->req, error);
	op_free(op);
}

/* Open a job file, new-id or config.json. */
static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle	*h;
	struct job	*job;
	struct wait	*w;
	struct op	*op;
	char		*json;
	int		 error;
	int		 wr = (fi->flags & O_ACCMODE) != O_RDONLY;

	if (ino == INO_NEWID) {
		if (wr) {
			fuse_reply_err(req, EACCES);
			return;
		}
		op = op_new(OP_NEWID, req);
		op->h = handle_new(H_NEWID, NULL);
		op->fi = *fi;
		do_newid(op);
		return;
	}
	if (ino == INO_EVENTS || ino == INO_STATS) {
		if (wr) {
			fuse_reply_err(req, EACCES);
			return;
		}
		if (ino == INO_STATS) {
			h = handle_new(H_STATS, NULL);
			stats_render(&h->buf);
		} else {
			/* A stream, like a pipe: reads ignore offsets. */
			h = handle_new(H_EVENTS, NULL);
			h->events = events_open();
			fi->nonseekable = 1;
		}
		goto reply;
	}
	if ((job = wait_job(ino)) != NULL) {
		if (wr) {
			fuse_reply_err(req, EACCES);
			return;
		}
		if (job->gone) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		/*
		 * wait_open first: a refused open takes no handle. Dropping
		 * one could be the last release of a job never saved, which
		 * handle_unref takes for its creator's (new_released).
		 */
		if ((error = wait_open(job, &w)) != 0) {
			fuse_reply_err(req, -error);
			return;
		}
		h = handle_new(H_WAIT, job);
		h->wait = w;
		goto reply;
	}
	if (ino == INO_CONFIG) {
		h = handle_new(H_CONFIG, NULL);
		if (wr)
			h->writing = 1;
		else {
			json = config_json();
			buf_adds(&h->buf, json);
			free(json);
		}
		goto reply;
	}
	if ((job = queue_by_ino(ino)) == NULL || job->gone) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	switch (job->state) {
	case JOB_NEW:
	case JOB_DRAFT:
		/*
		 * A job is its creator's alone until the creator lets go of
		 * it; a draft, even one being created, is shared like a
		 * file: every writer writes the same text (text.c).
		 */
		if ((job->state == JOB_NEW && !queue_draftlike(job)) ||
		    (job->state == JOB_DRAFT && job->unreleased &&
		    job->held)) {
			fuse_reply_err(req, EBUSY);
			return;
		}
		if (queue_text_fixed(job)) {
			/* Its creator let go: it is being queued. */
			if (wr) {
				fuse_reply_err(req, EACCES);
				return;
			}
			h = handle_new(H_TEXT, job);
			break;
		}
		if (!wr) {
			h = handle_new(H_TEXT, job);
			break;
		}
		h = handle_new(H_WRITER, job);
		text_attach(job, (fi->flags & O_TRUNC) != 0);
		break;
	case JOB_PENDING:
		if (wr) {
			log_warnx("job '%s': write refused: a queued job's "
			    "text is fixed", job->name);
			fuse_reply_err(req, EACCES);
			return;
		}
		h = handle_new(H_TEXT, job);
		break;
	default:
		if (wr) {
			fuse_reply_err(req, EACCES);
			return;
		}
		h = handle_new(H_LOG, job);
		h->all = job->state == JOB_FAILED;
		h->attempt = job->state == JOB_ACTIVE ? job->natt : 0;
		if ((error = logref_get(job, &h->lr)) != 0) {
			handle_unref(h);
			fuse_reply_err(req, -error);
			return;
		}
		break;
	}
reply:
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		handle_unref(h);
}

/*
 * Hand out the next new-id number. Numbers are reserved in the journal a
 * block at a time, so a number is never handed out twice, even across a
 * crash, at the cost of one commit per 1024 opens.
 */
static void
do_newid(struct op *op)
{
	uint64_t	*upto = queue_ids_upto(), n;
	char		 name[32];

	for (;;) {
		if ((n = queue_ids_next(0)) >= *upto) {
			queue_ids(n + 1024, op_done, op);
			return;
		}
		queue_ids_next(1);
		snprintf(name, sizeof name, "%llu", (unsigned long long)n);
		if (queue_name_free(name))
			break;
	}
	buf_printf(&op->h->buf, "%s\n", name);
	op->fi.fh = (uintptr_t)op->h;
	op->fi.direct_io = 1;
	if (fuse_reply_open(op->req, &op->fi) == 0)
		op->h = NULL;	/* now owned by the kernel's file */
	op_free(op);
}

/* Create a new job (or draft) in pending/. */
static void
fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	const struct fuse_ctx	*ctx = fuse_req_ctx(req);
	struct fuse_entry_param	 e;
	struct handle		*h;
	struct job		*job;
	char			 pbuf[80];
	int			 error, tmp;

	if (parent != INO_PENDING) {
		log_warnx("create '%s' refused: jobs are created in pending/",
		    name);
		fuse_reply_err(req, EPERM);
		return;
	}
	if (ctx->pid == 0) {
		/*
		 * FUSE could not tell who is calling (another pid or user
		 * namespace): uid 0 then means "unknown", not root.
		 */
		log_warnx("create '%s' refused: the caller is outside filed's "
		    "pid or user namespace", util_printable(name, pbuf,
		    sizeof pbuf));
		fuse_reply_err(req, EPERM);
		return;
	}
	if (queue_count() >= (uint64_t)fs.conf->max_jobs_total) {
		log_warnx("create '%s' refused: %lld jobs exist (max_jobs_total)",
		    util_printable(name, pbuf, sizeof pbuf),
		    (long long)fs.conf->max_jobs_total);
		fuse_reply_err(req, ENOSPC);
		return;
	}
	/*
	 * A file made as mkstemp(3) makes a temporary one (read-write,
	 * O_EXCL) is a draft whatever its name: sed -i and perl -i write
	 * the new text of a draft into such a file in pending/ and rename
	 * it over the draft, and it must not run meanwhile.
	 */
	tmp = (fi->flags & O_ACCMODE) == O_RDWR && (fi->flags & O_EXCL) != 0;
	if ((error = queue_new(name, ctx->uid, ctx->gid, tmp, &job)) != 0) {
		if (error == -EINVAL)
			log_warnx("create '%s' refused: a job name has no "
			    "control characters", util_printable(name, pbuf,
			    sizeof pbuf));
		else if (error == -EEXIST)
			log_warnx("create '%s' refused: the name is taken",
			    util_printable(name, pbuf, sizeof pbuf));
		fuse_reply_err(req, -error);
		return;
	}
	h = handle_new(H_WRITER, job);
	h->creator = 1;
	text_attach(job, 1);
	creating_begin(h);
	memset(&e, 0, sizeof e);
	e.ino = queue_ino(job);
	job_attr(job, &e.attr);
	/*
	 * The new job's attributes may be cached (its name may not): the
	 * kernel asks for them again at once otherwise, for the permission
	 * check of the open that follows the create, one request in seven.
	 * Nothing filed does on its own changes them while its creator
	 * holds it: an unreleased job does not start, move or expire; what
	 * others do to it (chmod, rm, mv) comes through the kernel, which
	 * updates or drops its copy, as it does for the size and times
	 * after the creator's writes; every path walk asks again (the
	 * entry's timeout is 0) and gets fresh attributes.
	 */
	e.attr_timeout = CREATE_ATTR_TIMEOUT;
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi) == 0)
		queue_lookup(job);
	else {
		queue_abandon(job);
		handle_unref(h);
	}
}

/* Copy the part [off, off+size) of a view into out. */
static size_t
view_read(struct view *v, int fd, char *out, size_t size, uint64_t off)
{
	uint64_t	pos = 0, skip, n;
	size_t		i, done = 0;
	ssize_t		r;

	for (i = 0; i < v->nseg && done < size; i++) {
		if (off >= pos + v->seg[i].len) {
			pos += v->seg[i].len;
			continue;
		}
		skip = off > pos ? off - pos : 0;
		n = v->seg[i].len - skip;
		if (n > size - done)
			n = size - done;
		if (v->seg[i].mem)
			memcpy(out + done, v->marks.data + v->seg[i].off + skip,
			    n);
		else {
			r = fd == -1 ? 0 : pread(fd, out + done, n,
			    (off_t)(v->seg[i].off + skip));
			if (r <= 0)
				break;
			n = (uint64_t)r;
		}
		done += n;
		off += n;
		pos += v->seg[i].len;
		if (skip + n < v->seg[i].len)
			break;
	}
	return done;
}

/* read(). */
static void
fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct handle	*h = (struct handle *)(uintptr_t)fi->fh;
	const char	*data = NULL;
	size_t		 len = 0;
	struct view	 v;
	char		*out;
	int		 fd;

	switch (h->kind) {
	case H_NEWID:
	case H_CONFIG:
	case H_STATS:
		data = h->buf.data;
		len = h->buf.len;
		break;
	case H_WAIT:
		wait_read(req, h->wait, size, (uint64_t)off);
		return;
	case H_EVENTS:
		events_read(req, h->events, size);
		return;
	case H_WRITER:
	case H_TEXT:
		/* A draft's readers see what its writers wrote (text.c). */
		data = text_data(h->job, &len);
		break;
	case H_LOG:
		fd = h->lr != NULL ? h->lr->fd : -1;
		view_build(&v, h->job, h->attempt, h->all,
		    log_eof(h->job, fd));
		out = xmalloc(size);
		len = view_read(&v, fd, out, size, (uint64_t)off);
		fuse_reply_buf(req, out, len);
		free(out);
		view_free(&v);
		return;
	case H_DIR:
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((uint64_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off,
		    size < len - (size_t)off ? size : len - (size_t)off);
}

/* write(). */
static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct handle	*h = (struct handle *)(uintptr_t)fi->fh;
	uint64_t	 end;
	size_t		 len;
	int		 error, append;

	if (h->kind == H_CONFIG && h->writing) {
		if (h->error == 0 && (uint64_t)off + size > CONF_JSON_MAX) {
			log_warnx("config.json: larger than %d bytes",
			    CONF_JSON_MAX);
			h->error = EINVAL;
		}
		if (h->error == 0) {
			buf_set(&h->buf, (size_t)off, data, size);
			h->dirty = 1;
			if (config_check(h->buf.data, h->buf.len) != 0)
				h->error = EINVAL;
		}
		if (h->error != 0)
			fuse_reply_err(req, h->error);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (h->kind != H_WRITER) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (h->job->gone) {
		/*
		 * Removed, or replaced by a rename, while open: as for a file
		 * unlinked while open, what is written goes nowhere.
		 */
		fuse_reply_write(req, size);
		return;
	}
	if (!writable(h)) {
		log_warnx("job '%s': write refused: a queued job's text is "
		    "fixed", h->job->name);
		fuse_reply_err(req, EACCES);
		return;
	}
	/*
	 * O_APPEND writes at the end of the text as it is now, whoever made
	 * it so: the kernel's idea of the size may be older.
	 */
	append = (fi->flags & O_APPEND) != 0;
	text_data(h->job, &len);
	end = (append ? (uint64_t)len : (uint64_t)off) + size;
	if (h->error == 0 && end > (uint64_t)fs.conf->max_job_size) {
		log_warnx("job '%s': refused: larger than max_job_size (%lld "
		    "bytes)", h->job->name, (long long)fs.conf->max_job_size);
		h->error = EFBIG;
	}
	if (h->error == 0 && (error = space_check(2 * end + 512)) != 0) {
		/*
		 * The disk cannot take this job's record beside the space
		 * held back for the jobs already accepted: refuse it now,
		 * and at close.
		 */
		log_warnx("job '%s': refused: %s", h->job->name,
		    strerror(-error));
		h->error = -error;
		if (error == -ENOSPC)
			queue_disk_full();
	}
	if (h->error == 0 && text_write(h->job, data, size, (uint64_t)off,
	    append, (uint64_t)fs.conf->max_job_size) != 0)
		h->error = EFBIG;
	if (h->error != 0) {
		if (h->job->state == JOB_NEW)
			h->job->live->refused = 1;
		fuse_reply_err(req, h->error);
		return;
	}
	fuse_reply_write(req, size);
}

/* Park a flush or fsync of an open file and carry it out. */
static void
flush_or_fsync(enum opkind kind, fuse_req_t req, struct fuse_file_info *fi)
{
	struct op	*op;

	op = op_new(kind, req);
	op->h = (struct handle *)(uintptr_t)fi->fh;
	op->h->refs++;
	op_run(op);
}

/* close(): commit a new job, a draft's new text or the settings. */
static void
fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	flush_or_fsync(OP_FLUSH, req, fi);
}

/* fsync(): the same commit as flush, or a wait for the one in flight. */
static void
fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	flush_or_fsync(OP_FSYNC, req, fi);
}

/* Carry out a flush or fsync. */
static void
do_flush(struct op *op)
{
	struct handle	*h = op->h;
	struct job	*job = h->job;
	const char	*text;
	size_t		 len;

	/* The FUSE drain holds the batch until this record is queued. */
	creating_end(h);
	if (h->kind == H_CONFIG) {
		do_config_flush(op);
		return;
	}
	if (h->kind == H_WRITER && h->error != 0) {
		/*
		 * A write of it was refused (EFBIG, ENOSPC): so is every
		 * close. A job being written is dropped: never run, not
		 * even with what an earlier close saved.
		 */
		if (job->state == JOB_NEW && h->creator &&
		    !queue_draftlike(job))
			queue_abandon(job);
		else if (!job->gone && job->state == JOB_DRAFT &&
		    job->unreleased && h->creator) {
			if (queue_inflight(job) != 0) {
				queue_wait(job, op_retry, op);
				return;
			}
			log_warnx("job '%s': removed, not run: a write of it "
			    "was refused", job->name);
			op->rv = h->error;
			queue_remove(job, op_done, op);
			return;
		}
		fuse_reply_err(op->req, h->error);
		op_free(op);
		return;
	}
	if (job == NULL || job->gone || h->kind != H_WRITER) {
		fuse_reply_err(op->req, 0);
		op_free(op);
		return;
	}
	if (queue_inflight(job) != 0) {
		/* A save in flight may be this one's: wait and look again. */
		queue_wait(job, op_retry, op);
		return;
	}
	if (!text_dirty(job)) {
		/*
		 * Nothing new to save. A creator that has not written yet
		 * (a shell closes a duplicate before it writes) saves at a
		 * later close, or as its last open file is released.
		 */
		fuse_reply_err(op->req, 0);
		op_free(op);
		return;
	}
	if (!writable(h)) {
		log_warnx("job '%s': write refused: a queued job's text is "
		    "fixed", job->name);
		fuse_reply_err(op->req, EACCES);
		op_free(op);
		return;
	}
	op->ino = queue_ino(job);
	op->gen = text_gen(job);
	op->saves = 1;
	text = text_data(job, &len);
	if (job->state == JOB_NEW) {
		/*
		 * A job (not a draft) saved while its creator may still
		 * write is journaled as being written ("open"): it runs
		 * only once the creator lets go, and never if filed stops
		 * first (creator_released, queue_keep_unreleased).
		 */
		log_debug("job '%s': %zu bytes, saving", job->name, len);
		queue_submit(job, text, len, !queue_draftlike(job), op_done,
		    op);
		return;
	}
	queue_set_text(job, text, len, op_done, op);
}

/*
 * close() of config.json: hand what was written to config.c, which
 * answers once the settings are durable and in force, or nothing changed.
 * An error refused at write or truncate is sticky: the close fails with it
 * too, and nothing is submitted.
 */
static void
do_config_flush(struct op *op)
{
	struct handle	*h = op->h;
	int		 error;

	if (h->error != 0) {
		fuse_reply_err(op->req, h->error);
		op_free(op);
		return;
	}
	if (!h->writing || !h->dirty) {
		fuse_reply_err(op->req, 0);
		op_free(op);
		return;
	}
	h->dirty = 0;
	if ((error = config_submit(h->buf.data, h->buf.len, op_config_done,
	    op)) != 0) {
		h->error = -error;
		fuse_reply_err(op->req, -error);
		op_free(op);
	}
}

/* config.c is done with a close() of config.json: answer it. */
static void
op_config_done(void *arg, int error)
{
	struct op	*op = arg;

	fuse_reply_err(op->req, -error);
	op_free(op);
}

/* The last close of an open file. */
static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	handle_unref((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * Add one entry to a directory snapshot. The names go one after the other
 * into one buffer, not a small allocation each: a listing of many jobs
 * would otherwise leave as many small chunks behind when it is freed,
 * which malloc keeps for reuse rather than give back.
 */
static void
dir_add(struct handle *h, fuse_ino_t ino, mode_t type, const char *name)
{
	if (h->nents == h->entcap) {
		/* Doubled, not grown by one: a listing of 100,000 jobs. */
		h->entcap = h->entcap == 0 ? 16 : h->entcap * 2;
		h->ents = xreallocarray(h->ents, h->entcap, sizeof *h->ents);
	}
	h->ents[h->nents].ino = ino;
	h->ents[h->nents].type = type;
	h->ents[h->nents].name = h->buf.len;
	buf_add(&h->buf, name, strlen(name) + 1);
	h->nents++;
}

/*
 * opendir: take a snapshot of the listing, so that readdir offsets stay
 * valid while jobs come and go.
 */
static void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle	*h;
	struct job	*job;

	if (ino != INO_ROOT && ino != INO_WAIT &&
	    (ino < INO_PENDING || ino > INO_COMPLETE)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	h = handle_new(H_DIR, NULL);
	dir_add(h, ino, S_IFDIR, ".");
	dir_add(h, INO_ROOT, S_IFDIR, "..");
	if (ino == INO_ROOT) {
		dir_add(h, INO_PENDING, S_IFDIR, "pending");
		dir_add(h, INO_ACTIVE, S_IFDIR, "active");
		dir_add(h, INO_FAILED, S_IFDIR, "failed");
		dir_add(h, INO_COMPLETE, S_IFDIR, "complete");
		dir_add(h, INO_NEWID, S_IFREG, "new-id");
		dir_add(h, INO_CONFIG, S_IFREG, "config.json");
		dir_add(h, INO_WAIT, S_IFDIR, "wait");
		dir_add(h, INO_EVENTS, S_IFREG, "events");
		dir_add(h, INO_STATS, S_IFREG, "stats");
	} else if (ino == INO_WAIT) {
		/* wait/NAME exists for every job; the listing shows none. */
	} else {
		TAILQ_FOREACH(job, queue_dir_jobs(ino), all)
			dir_add(h, queue_ino(job), S_IFREG, job->name);
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		handle_unref(h);
}

/* readdir: serve the snapshot from entry off on. */
static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct handle	*h = (struct handle *)(uintptr_t)fi->fh;
	struct stat	 st;
	char		*out;
	size_t		 used = 0, n, i;

	out = xmalloc(size);
	for (i = (size_t)off; i < h->nents; i++) {
		memset(&st, 0, sizeof st);
		st.st_ino = h->ents[i].ino;
		st.st_mode = h->ents[i].type;
		n = fuse_add_direntry(req, out + used, size - used,
		    h->buf.data + h->ents[i].name, &st, (off_t)(i + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

/* closedir. */
static void
fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	handle_unref((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* statfs: the state directory's space, and the number of jobs. */
static void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs	 st;

	if (statvfs(fs.statedir, &st) == -1)
		memset(&st, 0, sizeof st);
	st.f_files = queue_count() + INO_NFIXED;
	st.f_ffree = 0;
	st.f_favail = 0;
	st.f_namemax = FILED_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

/*
 * setxattr: user.filed.* of a job file is filed's: its policy (policy.c)
 * may be set on a draft or a failed job, the rest is metadata (EPERM). No
 * other attribute is kept (ENOTSUP: not supported here, as for a file
 * system without them, so that cp -p and sed -i fall back to chmod for an
 * ACL).
 */
static void
fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct op	*op;

	if (strncmp(name, XATTR_PREFIX, XATTR_PREFIX_LEN) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	op = op_new(OP_SETXATTR, req);
	op->ino = ino;
	op->name = xstrdup(name);
	op->value = xmalloc(size + 1);
	memcpy(op->value, value, size);
	op->value[size] = '\0';
	op->vlen = size;
	op->flags = (unsigned)flags;
	do_xattr(op);
}

/* removexattr: likewise; removing an attribute of the policy unsets it. */
static void
fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct op	*op;

	if (strncmp(name, XATTR_PREFIX, XATTR_PREFIX_LEN) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	op = op_new(OP_REMOVEXATTR, req);
	op->ino = ino;
	op->name = xstrdup(name);
	do_xattr(op);
}

/*
 * Carry out a setxattr or removexattr of user.filed.*; may wait for the
 * job or for a commit. The value is checked in full before anything is
 * journaled, so a refused one changes nothing: EINVAL for a value that
 * does not parse or is out of range, ENOENT for a job in user.filed.after
 * that does not exist, E2BIG for one longer than
 * POL_VALUE_MAX, EPERM for metadata or a job that is queued, running or
 * complete, EBUSY for a job not saved yet.
 */
static void
do_xattr(struct op *op)
{
	struct job	*job;
	struct buf	 canon;
	const char	*attr = op->name + XATTR_PREFIX_LEN, *what;
	char		*cause = NULL, pbuf[80];
	int		 k, has, error;

	what = op->kind == OP_SETXATTR ? "setfattr" : "setfattr -x";
	if ((job = queue_by_ino(op->ino)) == NULL) {
		error = EPERM;		/* the tree and wait/NAME have none */
		goto fail;
	}
	if (job->gone) {
		error = ENOENT;
		goto fail;
	}
	if ((k = policy_key(attr)) == -1) {
		log_warnx("job '%s': %s %s refused: not a writable attribute",
		    job->name, what, util_printable(op->name, pbuf,
		    sizeof pbuf));
		error = EPERM;
		goto fail;
	}
	if (job->state == JOB_NEW) {
		log_warnx("job '%s': %s %s refused: it is still being "
		    "written", job->name, what, op->name);
		error = EBUSY;
		goto fail;
	}
	if (!queue_policy_writable(job)) {
		log_warnx("job '%s': %s %s refused: the job is %s; only a "
		    "draft (pending/.NAME) or a failed job takes a policy",
		    job->name, what, op->name, queue_user_state(job));
		error = EPERM;
		goto fail;
	}
	if (queue_inflight(job) != 0) {
		queue_wait(job, op_retry, op);
		return;
	}
	has = job->live != NULL && policy_has(job->live->policy, k);
	if (op->kind == OP_REMOVEXATTR) {
		if (!has) {
			error = ENODATA;
			goto fail;
		}
		log_debug("job '%s': %s removed", job->name, op->name);
		error = -queue_set_policy(job, k, NULL, op_done, op);
		if (error == 0)
			return;
		goto fail;
	}
	if (((op->flags & XATTR_CREATE) && has) ||
	    ((op->flags & XATTR_REPLACE) && !has)) {
		error = has ? EEXIST : ENODATA;
		goto fail;
	}
	if (op->vlen > POL_VALUE_MAX) {
		log_warnx("job '%s': setfattr %s refused: the value is longer "
		    "than %d bytes", job->name, op->name, POL_VALUE_MAX);
		error = E2BIG;
		goto fail;
	}
	buf_init(&canon);
	if (k == POL_AFTER)
		error = -queue_after_parse(job, op->value, op->vlen, &canon,
		    &cause);
	else
		error = policy_parse(k, op->value, op->vlen, util_now(),
		    &canon, &cause) != 0 ? EINVAL : 0;
	if (error != 0) {
		log_warnx("job '%s': setfattr %s refused: %s", job->name,
		    op->name, cause);
		free(cause);
		buf_free(&canon);
		goto fail;
	}
	log_debug("job '%s': %s = %s", job->name, op->name, canon.data);
	error = -queue_set_policy(job, k, canon.data, op_done, op);
	buf_free(&canon);
	if (error == 0)
		return;

fail:
	fuse_reply_err(op->req, error);
	op_free(op);
}

/* getxattr: user.filed.* of job files. */
static void
fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct job	*job;
	struct buf	 b;

	if ((job = queue_by_ino(ino)) == NULL) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	buf_init(&b);
	if (xattr_get(job, name, &b) != 0)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b.data, b.len);
	buf_free(&b);
}

/*
 * poll(2): events is readable when a line waits for its reader (events.c);
 * every other file always is, as a regular file.
 */
static void
fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct fuse_pollhandle *ph)
{
	struct handle	*h = (struct handle *)(uintptr_t)fi->fh;

	if (h != NULL && h->kind == H_EVENTS) {
		events_poll(req, h->events, ph);
		return;
	}
	if (ph != NULL)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

/* listxattr. */
static void
fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct job	*job;
	struct buf	 b;

	buf_init(&b);
	if ((job = queue_by_ino(ino)) != NULL)
		xattr_list(job, &b);
	if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b.data, b.len);
	buf_free(&b);
}

static const struct fuse_lowlevel_ops fsops = {
	.init		= fs_init,
	.lookup		= fs_lookup,
	.forget		= fs_forget,
	.forget_multi	= fs_forget_multi,
	.getattr	= fs_getattr,
	.setattr	= fs_setattr,
	.mknod		= fs_mknod,
	.mkdir		= fs_mkdir,
	.unlink		= fs_unlink,
	.rmdir		= fs_rmdir,
	.symlink	= fs_symlink,
	.rename		= fs_rename,
	.link		= fs_link,
	.open		= fs_open,
	.read		= fs_read,
	.write		= fs_write,
	.flush		= fs_flush,
	.release	= fs_release,
	.fsync		= fs_fsync,
	.opendir	= fs_opendir,
	.readdir	= fs_readdir,
	.releasedir	= fs_releasedir,
	.statfs		= fs_statfs,
	.setxattr	= fs_setxattr,
	.getxattr	= fs_getxattr,
	.listxattr	= fs_listxattr,
	.removexattr	= fs_removexattr,
	.create		= fs_create,
	.poll		= fs_poll,
};

/* The operations table, for fuse_session_new. */
const void *
fsops_table(void)
{
	return &fsops;
}
