/*
 * filed.h: the private header. Shared types, and every file's functions
 * listed under the name of the file that owns them.
 *
 * Only the FUSE glue includes fuse_lowlevel.h: fuse_uv.c, fsops.c, and
 * wait.c and events.c for the files they serve (they park and answer
 * reads). Only loop.c, run.c, journal.c, config.c, fuse_uv.c, fsops.c,
 * events.c (its batch timer), notify.c and retain.c (their timers)
 * include uv.h. The state machine (queue.c) and the codecs (rec.c,
 * conf.c) depend on neither, so they link into the unit tests without a
 * mount.
 */

#ifndef FILED_H
#define FILED_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST(head);					\
	    (var) != NULL && ((tvar) = LIST_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define FILED_JOURNAL_VERSION	2
#define FILED_NAME_MAX		255

struct uv_loop_s;

/* buf.c */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	 buf_init(struct buf *);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_reserve(struct buf *, size_t);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addc(struct buf *, char);
void	 buf_adds(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_set(struct buf *, size_t, const void *, size_t);

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* pool.c: objects of one size without malloc's overhead each */
struct pool_page;
struct pool {
	size_t		 size;
	unsigned	 perpage;
	TAILQ_HEAD(, pool_page) room;	/* pages with a free object */
};
void	 pool_init(struct pool *, size_t);
void	*pool_get(struct pool *);
void	 pool_put(struct pool *, void *);

/* log.c */
void	 log_init(int);
int	 log_debugging(void);
void	 log_set_repeat_window(int64_t);
void	 log_flush(void);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatalx(const char *, ...);
__attribute__((noreturn, format(printf, 2, 3)))
void	 fatalx_now(int, const char *, ...);

/* util.c */
int64_t	 util_now(void);
char	*util_rfc3339(int64_t, char *, size_t);
char	*util_rfc3339_ms(int64_t, char *, size_t);
int	 util_valid_name(const char *, size_t);
int	 util_fsync_dir(const char *);
const char *util_printable(const char *, char *, size_t);
void	 util_cloexec_from(int);
int	 util_nofile_raise(uint64_t *);
uint64_t util_nofile_soft(void);
int	 util_nofile_raised(void);
void	 util_nofile_jobs(int);
char	*util_resolve(const char *);
int	 util_path_under(const char *, const char *);

/*
 * orphan.c: what attempts of a filed that died left running, killed at
 * the next start. A hint is an attempt the journal records as running in
 * this boot: its job, its number, its pid and its start (clock ticks since
 * boot).
 */
struct orphan_hint {
	uint64_t	 id;
	unsigned	 attempt;
	pid_t		 pid;
	uint64_t	 pst;
};
char		*orphan_mark(const char *);
const char	*orphan_boot_id(void);
uint64_t	 orphan_ticks(void);
int		 orphan_same(pid_t, uint64_t);
unsigned	 orphan_reap(const char *, const struct orphan_hint *, size_t,
		    int (*)(pid_t, uint64_t));

/*
 * io.c: the seam for the state directory's I/O (open, write, sync, rename,
 * truncate, unlink, close), so that tests can swap the system calls for a
 * backend that simulates power loss or fails a chosen call. The io_fs_*
 * calls stand in for the uv_fs_* ones and are declared where uv.h was
 * included first.
 */
struct io_ops {
	int	 (*open)(const char *, int, mode_t);
	ssize_t	 (*pwrite)(int, const void *, size_t, off_t);
	ssize_t	 (*write)(int, const void *, size_t);
	int	 (*fdatasync)(int);
	int	 (*fsync)(int);
	int	 (*rename)(const char *, const char *);
	int	 (*ftruncate)(int, off_t);
	int	 (*unlink)(const char *);
	int	 (*close)(int);
};
void	 io_set_ops(const struct io_ops *);
const struct io_ops *io_real_ops(void);
int	 io_open(const char *, int, mode_t);
ssize_t	 io_pwrite(int, const void *, size_t, off_t);
ssize_t	 io_write(int, const void *, size_t);
int	 io_fdatasync(int);
int	 io_fsync(int);
int	 io_rename(const char *, const char *);
int	 io_ftruncate(int, off_t);
int	 io_unlink(const char *);
int	 io_close(int);
#ifdef UV_VERSION_MAJOR
int	 io_fs_open(uv_loop_t *, uv_fs_t *, const char *, int, int, uv_fs_cb);
int	 io_fs_write(uv_loop_t *, uv_fs_t *, uv_file, const uv_buf_t[],
	    unsigned int, int64_t, uv_fs_cb);
int	 io_fs_write_sync(uv_loop_t *, uv_fs_t *, uv_file, const uv_buf_t *,
	    int *, uv_fs_cb);
int	 io_fs_fdatasync(uv_loop_t *, uv_fs_t *, uv_file, uv_fs_cb);
int	 io_fs_fsync(uv_loop_t *, uv_fs_t *, uv_file, uv_fs_cb);
int	 io_fs_rename(uv_loop_t *, uv_fs_t *, const char *, const char *,
	    uv_fs_cb);
int	 io_fs_ftruncate(uv_loop_t *, uv_fs_t *, uv_file, int64_t, uv_fs_cb);
int	 io_fs_unlink(uv_loop_t *, uv_fs_t *, const char *, uv_fs_cb);
int	 io_fs_close(uv_loop_t *, uv_fs_t *, uv_file, uv_fs_cb);
#endif

/* rec.c: the journal record codec (one record = one line) */
#define REC_MAXFIELDS	16
struct rec_field {
	const char	*key;
	const char	*val;		/* unescaped, NUL-terminated */
	size_t		 len;		/* length of val without the NUL */
};
struct rec {
	uint64_t	 seq;
	const char	*type;
	int		 nfields;
	struct rec_field field[REC_MAXFIELDS];
};
/* Do two short strings match? Inline, for the keys and types of replay. */
static inline int
rec_streq(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}
uint32_t crc32c(uint32_t, const void *, size_t);
void	 rec_begin(struct buf *, const char *);
void	 rec_add(struct buf *, const char *, const void *, size_t);
void	 rec_add_str(struct buf *, const char *, const char *);
void	 rec_add_u64(struct buf *, const char *, uint64_t);
void	 rec_add_i64(struct buf *, const char *, int64_t);
#define REC_NUMLEN	21	/* the longest rec_fmt_u64/i64: -2^63 */
size_t	 rec_fmt_u64(char *, uint64_t);
size_t	 rec_fmt_i64(char *, int64_t);
void	 rec_frame(struct buf *, uint64_t, const char *, size_t);
int	 rec_parse(char *, size_t, struct rec *, const char **);
int	 rec_parse_body(char *, size_t, struct rec *, const char **);
const char *rec_get(const struct rec *, const char *, size_t *);
int	 rec_get_u64(const struct rec *, const char *, uint64_t *);
int	 rec_get_i64(const struct rec *, const char *, int64_t *);

/* journal.c: the append-only journal, replay, group commit, compaction */
/*
 * The longest record line: up to max_job_size bytes of text, escaped to at
 * most four bytes each, with the largest setting allowed, so that lowering
 * max_job_size never makes an old journal unreadable.
 */
#define JOURNAL_MAX_LINE	(4 * (size_t)16777216 + 4096)
#define JOURNAL_EXIT	2	/* exit status: a failed batch not cut back */
struct journal;
struct stats_hist;
/* What the journal did since filed started, for stats (journal_counters). */
struct journal_counters {
	uint64_t	 size;		/* committed bytes in the file now */
	uint64_t	 records;	/* records committed */
	uint64_t	 commits;	/* batches committed */
	uint64_t	 bytes;		/* bytes those batches appended */
	uint64_t	 failed;	/* batches refused (write, sync, broken) */
	uint64_t	 compactions;	/* compactions done */
	uint64_t	 compact_failed; /* compactions given up */
	uint64_t	 compact_bytes;	/* bytes they wrote to PATH.new */
	int		 broken;	/* refusing changes after a failed sync */
	const struct stats_hist *sync;	/* how long each fdatasync took */
};
typedef int	(*journal_apply_cb)(void *, struct rec *, const char **);
typedef void	(*journal_done_cb)(void *, int);
typedef void	(*journal_snapshot_cb)(void *, struct buf *);
struct journal	*journal_open(const char *, size_t, journal_apply_cb, void *,
		    char **);
void		 journal_attach(struct journal *, struct uv_loop_s *);
void		 journal_append_lazy(struct journal *, const char *, size_t,
		    journal_done_cb, void *);
void		 journal_set_lazy(struct journal *, void (*)(void *), void *);
void		 journal_cork(struct journal *);
void		 journal_uncork(struct journal *);
void		 journal_push(struct journal *);
void		 journal_append(struct journal *, const char *, size_t,
		    journal_done_cb, void *);
int		 journal_idle(struct journal *);
int		 journal_broken(struct journal *);
uint64_t	 journal_next_seq(struct journal *);
uint64_t	 journal_size(struct journal *);
void		 journal_set_snapshot(struct journal *, journal_snapshot_cb,
		    void *);
void		 journal_set_compact_min(struct journal *, uint64_t);
int		 journal_compact(struct journal *);
void		 journal_counters(struct journal *, struct journal_counters *);
void		 journal_close(struct journal *);
/* What journal_check found. */
struct journal_check {
	uint64_t	 size;		/* bytes of whole records (and header) */
	uint64_t	 records;
	uint64_t	 next_seq;
	uint64_t	 torn_off;	/* a torn tail starts here, if torn_bytes */
	uint64_t	 torn_bytes;
	uint64_t	 dev, ino;	/* of the file read */
	int		 version;
	int		 fresh;		/* missing, empty, or a partial header */
	char		 torn_why[128];
};
int		 journal_check(const char *, size_t, journal_apply_cb, void *,
		    struct journal_check *, char **);

/* conf.c: settings, INI (inih) <-> struct <-> JSON (jansson) */
/*
 * A map of names to values, a section of its own in the INI file and an
 * object in config.json ([env]): entries "NAME=value", sorted by name, in
 * fixed room, so that struct conf stays a value that is copied whole. Each
 * fits one line of the INI file as NAME = value.
 */
#define CONF_MAP_MAX	64	/* entries */
#define CONF_MAP_NAME	64	/* bytes of a name */
#define CONF_MAP_ENTRY	192	/* bytes of a name and its value */
struct conf_map {
	unsigned	 n;
	char		 ent[CONF_MAP_MAX][CONF_MAP_ENTRY + 2];
};
#define CONF_PATH_MAX	180	/* bytes of workdir */
struct conf {
	int64_t		 max_retries;
	int64_t		 max_jobs;
	double		 backoff_base;
	double		 backoff_mult;
	double		 timeout;
	double		 kill_grace;
	int64_t		 max_job_size;
	int64_t		 run_as;	/* RUN_AS_* */
	int64_t		 allow_root;	/* run jobs created by root */
	int64_t		 max_jobs_total;
	char		 workdir[CONF_PATH_MAX + 1];	/* "" = the default */
	int64_t		 umask;
	int64_t		 max_log_size;	/* bytes of an attempt's output; 0: all */
	struct conf_map	 env;		/* added to every job's environment */
	int64_t		 nice;		/* of attempts; 0 = filed's own */
	char		 shell[CONF_PATH_MAX + 1];	/* PATH [ARG] */
	double		 keep_complete;	/* seconds; 0 = for good */
	double		 keep_failed;
	int64_t		 max_logs_total; /* bytes; 0 = no limit */
};
#define RUN_AS_FILED		0
#define RUN_AS_SUBMITTER	1
#define CONF_JSON_MAX	65536
#define CONF_SAVE_RENAMED (-2)	/* conf_save: new file in place, not synced */
void	 conf_defaults(struct conf *);
int	 conf_load(const char *, struct conf *, char **);
int	 conf_save(const char *, const struct conf *, char **);
char	*conf_to_json(const struct conf *);
int	 conf_from_json(const char *, size_t, const struct conf *,
	    struct conf *, char **);
int	 conf_json_check(const char *, size_t, const struct conf *, char **);
void	 conf_set_mount(const char *);
int	 conf_check_dirs(const struct conf *, const struct conf *, char **);
int	 conf_key_parse(const char *, const char *, double *, char **);
void	 conf_key_fmt(const char *, double, char *, size_t);

/*
 * policy.c: a job's policy, the user.filed.* attributes its users may set
 * on a draft or a failed job: overrides of settings (the first POL_NCONF
 * keys, named and ranged as in conf.c), the priority on the run queue and
 * a time before which it does not start. Values travel in the journal in
 * a canonical form (policy_parse makes it, policy_set takes only it).
 */
enum policy_key {
	POL_MAX_RETRIES,
	POL_TIMEOUT,
	POL_KILL_GRACE,
	POL_BACKOFF_BASE,
	POL_BACKOFF_MULT,
	POL_NICE,
	POL_PRIORITY,
	POL_NOT_BEFORE,
	POL_AFTER,
	POL_NKEYS
};
#define POL_NCONF	(POL_NICE + 1)
#define POL_PRIO_MIN	(-100)
#define POL_PRIO_MAX	100
#define POL_VALUE_MAX	4096		/* bytes of a value; more is E2BIG */
struct policy {
	unsigned	 set;		/* 1 << key, for each key given */
	double		 conf[POL_NCONF];
	int		 priority;
	int64_t		 not_before;	/* ns since the epoch */
	uint64_t	*after;		/* ids of the jobs it runs after */
	unsigned	 nafter;
};
int		 policy_key(const char *);
const char	*policy_name(int);
int		 policy_parse(int, const char *, size_t, int64_t, struct buf *,
		    char **);
int		 policy_set(struct policy **, int, const char *);
int		 policy_has(const struct policy *, int);
int		 policy_show(const struct policy *, int, struct buf *);
double		 policy_num(const struct policy *, int, double);
int		 policy_priority(const struct policy *);
int64_t		 policy_not_before(const struct policy *);
void		 policy_snapshot(const struct policy *, uint64_t, struct buf *);
const uint64_t	*policy_after(const struct policy *, unsigned *);
void		 policy_drop_after(struct policy **, uint64_t);
void		 policy_free(struct policy *);

/* config.c: config.json and SIGHUP; one queue for every settings change */
void	 config_init(struct uv_loop_s *, struct conf *, const char *);
void	 config_free(void);
int	 config_busy(void);
char	*config_json(void);
int	 config_check(const char *, size_t);
int	 config_submit(const char *, size_t, void (*)(void *, int), void *);
void	 config_reload(void);

/* queue.c: jobs, names, the state machine, the run queue */
#define INO_ROOT	1
#define INO_PENDING	2
#define INO_ACTIVE	3
#define INO_FAILED	4
#define INO_COMPLETE	5
#define INO_NEWID	6
#define INO_CONFIG	7
#define INO_WAIT	8	/* wait/ */
#define INO_EVENTS	9
#define INO_STATS	10
#define INO_NFIXED	11
#define INO_JOB_BASE	16
/* wait/NAME: a file of its own for each job, beside the job's inode */
#define INO_WAIT_BIT	(1ULL << 62)

enum job_state {
	JOB_NEW,		/* being written by its creating handle */
	JOB_DRAFT,		/* pending/.NAME: kept, never run */
	JOB_PENDING,		/* queued, or waiting for its retry time */
	JOB_ACTIVE,
	JOB_FAILED,
	JOB_COMPLETE
};

enum attempt_how {
	HOW_RUNNING,
	HOW_EXIT,
	HOW_SIGNAL,
	HOW_TIMEOUT,
	HOW_INTERRUPTED,
	HOW_CANCELLED
};

struct attempt {
	int64_t		 started;
	int64_t		 ended;
	uint64_t	 off;		/* log offset where its output starts */
	uint64_t	 end;		/* log offset where it ends, or OPEN */
#define ATTEMPT_OPEN	UINT64_MAX
	int		 how;
	int		 status;
	int		 signal;
	int		 eol;		/* its output ends with a newline */
};

struct waiter {
	void		(*fn)(void *);
	void		*arg;
	TAILQ_ENTRY(waiter) entry;
};
TAILQ_HEAD(waiters, waiter);

struct run;
struct job;
struct logref;

/*
 * What only a job that is queued, running or referenced needs: made on
 * demand by queue_live(), freed by queue_unref() once the job is finished
 * (or a draft) and nothing refers to it. A job that is new, pending or
 * active always has one.
 */
struct job_live {
	struct buf	*work;		/* text.c: the text its writers share */
	unsigned	 nwriters;	/* text.c: handles that may write it */
	unsigned	 wgen;		/* text.c: changes made to work */
	unsigned	 cgen;		/* text.c: wgen as last saved */
	int		 tmp;		/* JOB_NEW: made as mkstemp(3) does */
	int		 refused;	/* JOB_NEW: a write to it was refused */
	int		 releasing;	/* unreleased: its creator let go, the
					   record that queues it is in flight */
	int		 head;		/* interrupted: at the run queue's head */
	unsigned	 level;		/* its level of the run queue */
	struct policy	*policy;	/* policy.c: user.filed.*, or NULL */
	int		 held;		/* queued, waits for its jobs (after) */
	int		 inafters;	/* on the list of jobs with after */
	uint64_t	 depfail;	/* failed: the job it ran after that */
	char		*depname;	/* did not complete, and its name */
	TAILQ_ENTRY(job) hold;		/* the held jobs */
	TAILQ_ENTRY(job) aentry;	/* the jobs that have after */
	uint64_t	 boot;		/* the boot its live attempt started in */
	int64_t		 retry_at;	/* ns; 0 = not waiting */
	uint64_t	 pst;		/* its start, clock ticks since boot */
	pid_t		 pid;		/* recorded pid of the live attempt */
	unsigned	 nopen;		/* open handles */
	unsigned	 inflight;	/* its records not yet committed */
	unsigned	 pinned;	/* a refused record will be retried */
	int		 onready;
	struct waiters	 waiters;	/* run when inflight drops to 0 */
	struct run	*run;		/* run.c: the live attempt */
	struct logref	*logref;	/* fsops.c: the log its readers share */
	void		*timer;		/* run.c: the retry timer */
	TAILQ_ENTRY(job) ready;		/* the run queue */
};

/*
 * A job, as small as a finished one can be: every job in the journal stays
 * in memory, and most of them are finished. The name and the text share
 * one allocation (queue_text). A finished job whose earlier attempts are
 * never shown (complete, or failed after one attempt) keeps only its last
 * attempt, packed, with its end time taken from mtime; read attempts with
 * queue_attempt().
 */
#define JOB_TEXT_MAX	((1U << 25) - 1)	/* more than a record holds */
#define JOB_NATT_MAX	((1U << 23) - 1)	/* attempts of one run */
#define JOB_MODE_DEFAULT 0640
struct job {
	uint64_t	 id;
	char		*name;		/* the name, NUL, the text, NUL */
	struct job_live	*live;		/* NULL while idle and finished */
	int64_t		 ctime;
	int64_t		 mtime;		/* last state change */
	uid_t		 uid;		/* the owner: its creator, or chown */
	gid_t		 gid;		/* the creator's group, or chgrp */
	unsigned	 natt:23;	/* attempts of the current run */
	unsigned	 mode:9;	/* permission bits (chmod) */
	uint32_t	 nlookup;	/* kernel references (queue_lookup) */

	unsigned	 textlen:25;
	enum job_state	 state:3;
	unsigned	 gone:1;	/* out of the namespace */
	unsigned	 held:1;	/* its creating open file is open */
	unsigned	 unreleased:1;	/* saved at a close of its creator: a
					   draft until the creator lets go */
	unsigned	 grpset:1;	/* gid shown, not its directory's */

	unsigned	 packed:1;	/* the last attempt only, in last */
	unsigned	 lhow:3;	/* packed: its how, eol, status, sig */
	unsigned	 leol:1;
	unsigned	 lstatus:8;
	unsigned	 lsignal:8;
	unsigned	 hname:11;	/* top bits of the name's hash */
	union {
		struct {		/* not packed */
			struct attempt	*att;	/* every attempt of the run */
			unsigned	 attcap;
		};
		struct {		/* packed; it ended at mtime */
			int64_t		 started;
			uint64_t	 off;
			uint64_t	 end;
		} last;
	};

	TAILQ_ENTRY(job) all;		/* its directory's list (queue_dir_jobs) */
	struct job	*hnext_id;
	struct job	*hnext_name;
};
TAILQ_HEAD(jobs, job);

struct node {
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
	int64_t		 mtime;
};

typedef void	(*queue_done_cb)(void *, int);

void		 queue_init(size_t);
void		 queue_set_journal(struct journal *);
int		 queue_writable(void);
uint64_t	 queue_unfinished(void);
uint64_t	 queue_count(void);
uint64_t	 queue_count_state(enum job_state);
void		 queue_disk_full(void);
void		 queue_cork(int);
void		 queue_push(void);
void		 queue_free(void);
int		 queue_replay(void *, struct rec *, const char **);
void		 queue_snapshot(void *, struct buf *);
struct jobs	*queue_dir_jobs(uint64_t);
struct job	*queue_by_id(uint64_t);
struct job	*queue_by_name(const char *);
struct job	*queue_by_ino(uint64_t);
uint64_t	 queue_ino(const struct job *);
int		 queue_dir_of(const struct job *);
struct node	*queue_node(uint64_t);
int		 queue_name_free(const char *);
const char	*queue_state_name(enum job_state);
int		 queue_is_draft_name(const char *);
void		 queue_wait(struct job *, void (*)(void *), void *);
void		 queue_unref(struct job *);
struct job_live	*queue_live(struct job *);
unsigned	 queue_inflight(const struct job *);
void		 queue_lookup(struct job *);
const char	*queue_text(const struct job *);
int		 queue_attempt(const struct job *, unsigned, struct attempt *);
uint64_t	 queue_logs(const struct job *);
uint64_t	 queue_logs_total(void);
size_t		 queue_max_line(void);

int		 queue_new(const char *, uid_t, gid_t, int, struct job **);
void		 queue_abandon(struct job *);
int		 queue_draftlike(const struct job *);
int		 queue_text_fixed(const struct job *);
const char	*queue_user_state(const struct job *);
void		 queue_submit(struct job *, const char *, size_t, int,
		    queue_done_cb, void *);
int		 queue_set_text(struct job *, const char *, size_t,
		    queue_done_cb, void *);
int		 queue_rename(struct job *, const char *, struct job *,
		    queue_done_cb, void *);
void		 queue_release(struct job *);
void		 queue_keep_unreleased(void);
void		 queue_log_unreleased(void);
int		 queue_set_attr(struct job *, mode_t, uid_t, gid_t, int,
		    queue_done_cb, void *);
int		 queue_policy_writable(const struct job *);
int		 queue_set_policy(struct job *, int, const char *,
		    queue_done_cb, void *);
int		 queue_after_parse(const struct job *, const char *, size_t,
		    struct buf *, char **);
void		 queue_after_names(const struct policy *, struct buf *);
void		 queue_deps_fail(void);
void		 queue_boot(const char *, queue_done_cb, void *);
void		 queue_boot_start(const char *);
int		 queue_same_boot(const struct job *, const char *);
int		 queue_rerun(struct job *, const char *, queue_done_cb, void *);
int		 queue_cancel(struct job *, const char *, queue_done_cb, void *);
int		 queue_remove(struct job *, queue_done_cb, void *);
int		 queue_remove_why(struct job *, const char *, queue_done_cb,
		    void *);
int		 queue_set_node(uint64_t, mode_t, uid_t, gid_t, queue_done_cb,
		    void *);
void		 queue_ids(uint64_t, queue_done_cb, void *);
uint64_t	 queue_ids_next(int);
uint64_t	*queue_ids_upto(void);

struct job	*queue_next_ready(void);
void		 queue_started(struct job *, pid_t, uint64_t, uint64_t);
void		 queue_ended(struct job *, const struct attempt *, int,
		    int64_t);
void		 queue_retry_due(struct job *);
unsigned	 queue_failures(const struct job *);

/*
 * watch.c: the one hook for a change of a job (see watch.c). A change is
 * what the job became; prev is its state before the record.
 */
enum change_kind {
	CH_PENDING,		/* queued: new, released, queued draft, rerun */
	CH_ACTIVE,		/* an attempt started */
	CH_RETRY,		/* an attempt failed: pending until retry_at */
	CH_INTERRUPTED,		/* an attempt was interrupted: pending again */
	CH_COMPLETE,		/* the last attempt exited 0 */
	CH_FAILED,		/* the last allowed attempt failed */
	CH_CANCELLED,		/* mv active/NAME failed/: killed, failed */
	CH_REMOVED		/* rm: forgotten (a running attempt killed) */
};
struct change {
	const struct job	*job;
	enum change_kind	 kind;
	enum job_state		 prev;
	int			 submitted;	/* first queued (not a rerun) */
	int64_t			 time;		/* the record's time, ns */
	unsigned		 attempt;	/* the attempt concerned, or 0 */
	const struct attempt	*a;		/* the attempt that ended */
	int64_t			 retry_at;	/* CH_RETRY */
	uint64_t		 dep;		/* CH_FAILED without an attempt:
						   the job it ran after */
	const char		*why;		/* CH_REMOVED by filed, or NULL */
};
void		 watch_change(const struct change *);
const char	*watch_state(enum change_kind);

/*
 * retain.c: finished jobs removed by filed itself, by age (keep_complete,
 * keep_failed) and by the space of their output (max_logs_total)
 */
void		 retain_init(struct uv_loop_s *, const struct conf *);
void		 retain_kick(void);
void		 retain_stop(void);
void		 retain_change(const struct change *);

/*
 * wait.c: wait/NAME, a read that blocks until the job is final, then reads
 * one line: complete, failed or removed. wait_open returns 0 or -errno.
 */
struct fuse_req;
struct fuse_pollhandle;
struct wait;
int		 wait_open(struct job *, struct wait **);
void		 wait_read(struct fuse_req *, struct wait *, size_t, uint64_t);
void		 wait_release(struct wait *);
void		 wait_change(const struct change *);
void		 wait_stop(void);
unsigned	 wait_parked(void);

/* events.c: the events stream, one line per change */
struct events_reader;
void		 events_init(struct uv_loop_s *);
struct events_reader *events_open(void);
void		 events_read(struct fuse_req *, struct events_reader *,
		    size_t);
void		 events_poll(struct fuse_req *, struct events_reader *,
		    struct fuse_pollhandle *);
void		 events_release(struct events_reader *);
void		 events_change(const struct change *);
void		 events_stop(void);
unsigned	 events_parked(void);

/*
 * stats.c: the stats file, Prometheus text format. A histogram counts
 * durations (in ns) into fixed buckets, chosen by kind; the journal keeps
 * one of its own for its fdatasyncs.
 */
#define STATS_HIST_MAX	20		/* buckets at most, without +Inf */
enum stats_hist_kind {
	STATS_HIST_SYNC,		/* 100 us .. 1 s */
	STATS_HIST_RUN			/* 1 ms .. 1 h */
};
struct stats_hist {
	const uint64_t	*le;		/* upper bounds, ns, ascending */
	unsigned	 nle;
	uint64_t	 bucket[STATS_HIST_MAX + 1]; /* per bucket; last: +Inf */
	uint64_t	 count;
	uint64_t	 sum_s;		/* the sum: whole seconds */
	uint64_t	 sum_ns;	/* and ns, below 1e9 */
};
void		 stats_init(const struct conf *, struct journal *);
void		 stats_change(const struct change *);
void		 stats_render(struct buf *);
void		 stats_hist_init(struct stats_hist *, enum stats_hist_kind);
void		 stats_hist_add(struct stats_hist *, int64_t);
/*
 * The FUSE requests read, by opcode: fuse_uv.c adds one at each read,
 * indexed by FUSEOPS_SLOT() (fuseops.h), and stats shows them.
 */
extern uint64_t	 stats_fuse_requests[];

/* text.c: the text of a job while it is written, shared by its writers */
void		 text_attach(struct job *, int);
void		 text_detach(struct job *);
int		 text_write(struct job *, const void *, size_t, uint64_t, int,
		    uint64_t);
int		 text_truncate(struct job *, uint64_t, uint64_t);
const char	*text_data(const struct job *, size_t *);
int		 text_dirty(const struct job *);
unsigned	 text_gen(const struct job *);
void		 text_saved(struct job *, unsigned);

/* run.c: spawning attempts, log files, timeouts, kills, retry timers */
void		 run_init(struct uv_loop_s *, const char *, struct conf *);
void		 run_reconf(void);
void		 run_schedule(void);
void		 run_released(struct job *);
void		 run_recover(void);
void		 run_stop_all(int);
void		 run_shutdown(void);
unsigned	 run_count(void);
void		 run_kill(struct job *);
void		 run_unrecorded(struct job *);
void		 run_later(void (*)(void *), void (*)(void *), void *,
		    unsigned);
void		 run_arm_retry(struct job *);
void		 run_disarm_retry(struct job *);
void		 run_log_removed(struct job *);
char		*run_log_path(const struct job *);
int		 run_log_fd(struct job *);

/* interp.c: would the exec of a job's interpreter reach filed's own mount? */
int		 interp_set_mount(const char *);
int		 interp_in_mount(const char *, const char *);
int		 interp_split(char *, char **, char **);

/* xattr.c: user.filed.* metadata of job files */
int		 xattr_get(const struct job *, const char *, struct buf *);
void		 xattr_list(const struct job *, struct buf *);

/* status.c: filed --status, a table of a mount's jobs (a client: libc only) */
int		 status_main(int, char **);

/* check.c: filed --check, a read-only look at a state directory */
int		 check_main(int, char **, char *(*)(void));

/* view.c: what a read of a job file returns */
struct view_seg {
	int		 mem;		/* in marks (1) or in the log (0) */
	uint64_t	 off;		/* offset in marks or in the log */
	uint64_t	 len;
};
struct view {
	struct view_seg	*seg;
	size_t		 nseg;
	struct buf	 marks;		/* the marker lines the segments use */
	uint64_t	 size;
};
void		 view_build(struct view *, const struct job *, unsigned, int,
		    uint64_t);
void		 view_free(struct view *);
void		 view_marker(struct buf *, unsigned, const struct attempt *);
const char	*view_reason(const struct attempt *);
const char	*view_signame(int, char *, size_t);

/* space.c: disk space held back for accepted jobs */
void		 space_init(const char *);
void		 space_free(void);
void		 space_adjust(uint64_t);
int		 space_check(uint64_t);
int		 space_release(void);
void		 space_lend(void);

/* fsops.c: the mount tree */
void		 fsops_init(struct uv_loop_s *, const char *, struct conf *);
unsigned	 fsops_parked(void);
void		 fsops_stopping(void);
void		 fsops_free(void);
const void	*fsops_table(void);

/* fuse_uv.c: the FUSE session on the loop */
int		 fuse_uv_start(struct uv_loop_s *, const char *, const char *,
		    void (*)(void));
void		 fuse_uv_stop(void);

/* notify.c: the service manager's readiness protocol (NOTIFY_SOCKET) */
void	 notify_init(struct uv_loop_s *, const char *);
void	 notify_ready(void);
void	 notify_reloading(void);
void	 notify_stopping(void);
void	 notify_change(void);
void	 notify_free(void);

/* loop.c: startup order, signals, shutdown */
struct options {
	char		*statedir;
	char		*config;
	char		*mountpoint;
	char		*fuseopts;
	int		 debug;
};
int		 loop_run(struct options *);

#endif /* FILED_H */
