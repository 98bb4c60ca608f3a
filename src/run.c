/*
 * run.c: running attempts.
 *
 * - An attempt is a child started with uv_spawn in its own session and
 *   process group (UV_PROCESS_DETACHED), stdin on /dev/null, stdout and
 *   stderr on STATEDIR/logs/NAME opened O_APPEND: the child writes its log
 *   directly and filed copies nothing. The script reaches the interpreter
 *   as /dev/fd/3, a memfd holding the job's text.
 * - When the main process exits, what is left of its process group is
 *   killed: an attempt is over when its script is.
 * - Then the log is fdatasync'd (and the logs directory fsync'd if the
 *   attempt created the file) before the record of the ending is appended,
 *   so a journal that says an attempt ended at offset N has those N bytes.
 * - Timeouts send SIGTERM to the group, then SIGKILL kill_grace seconds
 *   later. Cancels (rm, mv to failed/) send SIGKILL at once.
 * - Jobs waiting to retry each hold a uv timer that puts them back on the
 *   run queue when their time comes.
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

extern char **environ;

enum {
	REASON_NONE,
	REASON_TIMEOUT,
	REASON_CANCEL,
	REASON_STOP,
	REASON_UNRECORDED	/* its start could not be journaled */
};

struct later {
	uv_timer_t		 timer;
	void			(*fn)(void *);
	void			(*drop)(void *);
	void			*arg;
	LIST_ENTRY(later)	 entry;
};

struct run {
	uv_process_t	 proc;
	uv_timer_t	 timer;
	uv_fs_t		 fs;
	struct job	*job;
	int		 logfd;
	uint64_t	 off;
	int		 created;	/* the log file was made by this attempt */
	int		 reason;
	int		 exited;
	int		 status;
	int		 signal;
	int		 termed;	/* SIGTERM has been sent */
	int		 killed;	/* SIGKILL has been sent */
	int		 handles;	/* open uv handles */
	struct attempt	 a;
	char		 last;
	LIST_ENTRY(run)	 entry;
};

static struct {
	uv_loop_t	*loop;
	char		*logdir;
	int		 logdirfd;
	struct conf	*conf;
	unsigned	 nrunning;
	int		 stopping;
	uv_timer_t	 blocked;	/* retries run_schedule */
	LIST_HEAD(, run) runs;
	LIST_HEAD(, later) laters;
} rs;

static int	 run_start(struct job *);
static void	 run_exited(uv_process_t *, int64_t, int);
static void	 run_timer_fired(uv_timer_t *);
static void	 run_handle_closed(uv_handle_t *);
static void	 run_synced(uv_fs_t *);
static void	 run_dir_synced(uv_fs_t *);
static void	 run_statted(uv_fs_t *);
static void	 run_read_last(uv_fs_t *);
static void	 run_finish(struct run *);
static int	 run_env_kept(const char *);
static void	 run_decide(void *);
static void	 run_release(struct run *);
static int	 run_argv(const struct job *, char **, char *);
static uint64_t	 run_proc_starttime(pid_t);
static void	 retry_fired(uv_timer_t *);
static void	 run_unblocked(uv_timer_t *);
static void	 retry_closed(uv_handle_t *);

/* Set up the runner: logs live in STATEDIR/logs. */
void
run_init(uv_loop_t *loop, const char *statedir, struct conf *conf)
{
	memset(&rs, 0, sizeof rs);
	rs.loop = loop;
	rs.conf = conf;
	LIST_INIT(&rs.runs);
	LIST_INIT(&rs.laters);
	rs.logdir = xasprintf("%s/logs", statedir);
	if (mkdir(rs.logdir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", rs.logdir);
	rs.logdirfd = open(rs.logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs.logdirfd == -1)
		fatal("open %s", rs.logdir);
	uv_timer_init(loop, &rs.blocked);
}

/* Try to start jobs again after the journal refused changes. */
static void
run_unblocked(uv_timer_t *t)
{
	run_schedule();
}

/* Return the path of a job's log file (malloc'd). */
char *
run_log_path(const char *name)
{
	return xasprintf("%s/%s", rs.logdir, name);
}

/* The number of attempts whose process or bookkeeping is still live. */
unsigned
run_count(void)
{
	return rs.nrunning;
}

/* The log fd of a running attempt, or -1. */
int
run_log_fd(struct job *job)
{
	return job->run != NULL ? job->run->logfd : -1;
}

/* Start queued jobs while fewer than max_jobs run. */
void
run_schedule(void)
{
	struct job	*job;

	if (rs.loop == NULL)
		return;
	if (!queue_writable()) {
		/*
		 * The journal refuses changes until it is rewritten; look
		 * again in a while rather than start attempts that cannot
		 * be recorded.
		 */
		if (!uv_is_active((uv_handle_t *)&rs.blocked))
			uv_timer_start(&rs.blocked, run_unblocked, 500, 0);
		return;
	}
	while (!rs.stopping && rs.nrunning < (unsigned)rs.conf->max_jobs &&
	    (job = queue_next_ready()) != NULL) {
		if (run_start(job) != 0)
			break;
	}
}

/*
 * Split the interpreter line of a script as the kernel does: "#!PATH ARG"
 * gives PATH and at most one argument, the rest of the line trimmed. Fill
 * argv (4 slots) and return 0, or -1 if the line is unusable. line is
 * scratch space of at least 256 bytes.
 */
static int
run_argv(const struct job *job, char **argv, char *line)
{
	const char	*text = job->text, *nl;
	char		*p, *arg;
	size_t		 n;

	if (job->textlen < 2 || text[0] != '#' || text[1] != '!') {
		argv[0] = "/bin/sh";
		argv[1] = "/dev/fd/3";
		argv[2] = NULL;
		return 0;
	}
	nl = memchr(text, '\n', job->textlen);
	n = (nl != NULL ? (size_t)(nl - text) : job->textlen) - 2;
	if (n > 255)
		return -1;
	memcpy(line, text + 2, n);
	line[n] = '\0';
	p = line + strspn(line, " \t");
	n = strcspn(p, " \t\r");
	if (n == 0)
		return -1;
	arg = p + n;
	if (*arg != '\0') {
		*arg++ = '\0';
		arg += strspn(arg, " \t");
		n = strlen(arg);
		while (n > 0 && strchr(" \t\r", arg[n - 1]) != NULL)
			arg[--n] = '\0';
	}
	argv[0] = p;
	if (*arg != '\0') {
		argv[1] = arg;
		argv[2] = "/dev/fd/3";
	} else {
		argv[1] = "/dev/fd/3";
		argv[2] = NULL;
	}
	argv[3] = NULL;
	return 0;
}

/* Read a process's start time (clock ticks since boot) from /proc. */
static uint64_t
run_proc_starttime(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 v = 0;
	ssize_t			 n;
	int			 fd, i;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces; fields restart after ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

/* Is this variable of filed's passed to a job run as its submitter? */
static int
run_env_kept(const char *var)
{
	static const char *kept[] = { "PATH=", "LANG=", "LANGUAGE=", "LC_",
	    "TZ=" };
	size_t	i;

	for (i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		if (strncmp(var, kept[i], strlen(kept[i])) == 0)
			return 1;
	}
	return 0;
}

/* Write a line into a log fd; used when filed itself must say something. */
static void
run_log_line(int fd, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[512];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, line, (size_t)n < sizeof line ?
	    (size_t)n : sizeof line - 1) == -1)
		log_warn("write to log");
}

/* Start the next attempt of job. Returns -1 if nothing could start. */
static int
run_start(struct job *job)
{
	uv_process_options_t	 opts;
	uv_stdio_container_t	 stdio[4];
	struct run		*r;
	struct stat		 st;
	char			*path, *argv[4], line[256], **env, *ebuf[2];
	char			*xargv[9], ids[2][24];
	const char		*why = NULL;
	size_t			 nenv, i, k;
	int			 flags, memfd = -1, devnull = -1, error;

	path = run_log_path(job->name);
	flags = O_RDWR | O_APPEND | O_CLOEXEC | O_CREAT;
	r = xcalloc(1, sizeof *r);
	r->logfd = open(path, flags | O_EXCL, 0600);
	if (r->logfd != -1)
		r->created = 1;
	else if (errno == EEXIST)
		r->logfd = open(path, flags | (job->natt == 0 ? O_TRUNC : 0),
		    0600);
	if (r->logfd == -1 || fstat(r->logfd, &st) == -1) {
		log_warn("job '%s': cannot open log %s", job->name, path);
		if (r->logfd != -1)
			close(r->logfd);
		free(r);
		free(path);
		return -1;
	}
	free(path);
	r->off = (uint64_t)st.st_size;
	r->job = job;
	job->run = r;
	LIST_INSERT_HEAD(&rs.runs, r, entry);
	rs.nrunning++;

	memfd = memfd_create("filed-job", MFD_CLOEXEC);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (memfd == -1 || devnull == -1 ||
	    write(memfd, job->text, job->textlen) != (ssize_t)job->textlen) {
		error = -errno;
		goto failed;
	}
	if (run_argv(job, argv, line) != 0) {
		error = -ENOEXEC;
		goto failed;
	}
	if (rs.conf->run_as == RUN_AS_SUBMITTER && job->uid == 0 &&
	    !rs.conf->allow_root) {
		why = "was created by root and allow_root is 0";
		error = -EPERM;
		goto failed;
	}
	if (rs.conf->run_as == RUN_AS_SUBMITTER && geteuid() == 0) {
		/* filed --exec-as UID GID takes on the creator's identity. */
		snprintf(ids[0], sizeof ids[0], "%lu", (unsigned long)job->uid);
		snprintf(ids[1], sizeof ids[1], "%lu", (unsigned long)job->gid);
		xargv[0] = "/proc/self/exe";
		xargv[1] = "--exec-as";
		xargv[2] = ids[0];
		xargv[3] = ids[1];
		for (i = 0; i < 4 && argv[i] != NULL; i++)
			xargv[4 + i] = argv[i];
		xargv[4 + i] = NULL;
	} else
		xargv[0] = NULL;

	for (nenv = 0; environ[nenv] != NULL; nenv++)
		;
	env = xcalloc(nenv + 3, sizeof *env);
	for (i = k = 0; i < nenv; i++) {
		if (strncmp(environ[i], "FILED_JOB=", 10) == 0 ||
		    strncmp(environ[i], "FILED_ATTEMPT=", 14) == 0)
			continue;
		/*
		 * A job run as its submitter gets no more of filed's (root's)
		 * environment than PATH and the locale; filed --exec-as
		 * adds HOME, USER and LOGNAME from the submitter's passwd.
		 */
		if (xargv[0] != NULL && !run_env_kept(environ[i]))
			continue;
		env[k++] = environ[i];
	}
	ebuf[0] = xasprintf("FILED_JOB=%s", job->name);
	ebuf[1] = xasprintf("FILED_ATTEMPT=%u", job->natt + 1);
	env[k++] = ebuf[0];
	env[k++] = ebuf[1];
	env[k] = NULL;

	memset(&opts, 0, sizeof opts);
	memset(stdio, 0, sizeof stdio);
	stdio[0].flags = UV_INHERIT_FD;
	stdio[0].data.fd = devnull;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = r->logfd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = r->logfd;
	stdio[3].flags = UV_INHERIT_FD;
	stdio[3].data.fd = memfd;
	opts.exit_cb = run_exited;
	opts.file = xargv[0] != NULL ? xargv[0] : argv[0];
	opts.args = xargv[0] != NULL ? xargv : argv;
	opts.env = env;
	opts.flags = UV_PROCESS_DETACHED;
	opts.stdio_count = 4;
	opts.stdio = stdio;
	r->proc.data = r;
	error = uv_spawn(rs.loop, &r->proc, &opts);
	r->handles++;
	free(ebuf[0]);
	free(ebuf[1]);
	free(env);
	if (error != 0) {
		uv_close((uv_handle_t *)&r->proc, run_handle_closed);
		goto failed;
	}
	close(memfd);
	close(devnull);

	queue_started(job, r->proc.pid, run_proc_starttime(r->proc.pid),
	    r->off);
	log_debug("job '%s': attempt %u started, pid %d", job->name,
	    job->natt + 1, r->proc.pid);
	uv_timer_init(rs.loop, &r->timer);
	r->timer.data = r;
	r->handles++;
	if (rs.conf->timeout > 0)
		uv_timer_start(&r->timer, run_timer_fired,
		    (uint64_t)(rs.conf->timeout * 1000), 0);
	return 0;

failed:
	/*
	 * The attempt could not start (no interpreter, no memory for the
	 * script): it is recorded like one that ran and exited 127, with
	 * the reason in its log, so that retries and failed/ work as usual.
	 */
	if (why != NULL) {
		log_warnx("job '%s': not run: it %s", job->name, why);
		run_log_line(r->logfd, "filed: job '%s' %s\n", job->name, why);
	} else {
		log_warnx("job '%s': cannot start: %s", job->name,
		    strerror(-error));
		run_log_line(r->logfd, "filed: cannot run job '%s': %s\n",
		    job->name, strerror(-error));
	}
	if (memfd != -1)
		close(memfd);
	if (devnull != -1)
		close(devnull);
	queue_started(job, 0, 0, r->off);
	r->exited = 1;
	r->status = why != NULL ? 126 : 127;
	if (r->handles == 0)
		run_finish(r);
	return 0;
}

/* A timeout or kill-grace timer fired for a running attempt. */
static void
run_timer_fired(uv_timer_t *t)
{
	struct run	*r = t->data;

	if (r->exited)
		return;
	if (r->reason == REASON_NONE) {
		r->reason = REASON_TIMEOUT;
		log_info("job '%s': timed out after %g s", r->job->name,
		    rs.conf->timeout);
	}
	if (!r->termed && rs.conf->kill_grace > 0) {
		kill(-r->proc.pid, SIGTERM);
		r->termed = 1;
		uv_timer_start(t, run_timer_fired,
		    (uint64_t)(rs.conf->kill_grace * 1000), 0);
		return;
	}
	kill(-r->proc.pid, SIGKILL);
	r->killed = 1;
}

/*
 * The journal refused the start of job's attempt: kill it, and let its
 * end go unrecorded, as its start was.
 */
void
run_unrecorded(struct job *job)
{
	struct run	*r = job->run;

	if (r == NULL)
		return;
	r->reason = REASON_UNRECORDED;
	if (!r->exited && r->proc.pid > 0) {
		kill(-r->proc.pid, SIGKILL);
		r->killed = 1;
	}
}

/* A run_later timer fired. */
static void
later_fired(uv_timer_t *t)
{
	struct later	*l = t->data;

	LIST_REMOVE(l, entry);
	uv_close((uv_handle_t *)t, retry_closed);
	l->fn(l->arg);
}

/*
 * Call fn(arg) in ms milliseconds; at shutdown drop(arg) is called
 * instead if it has not run.
 */
void
run_later(void (*fn)(void *), void (*drop)(void *), void *arg, unsigned ms)
{
	struct later	*l;

	l = xcalloc(1, sizeof *l);
	l->fn = fn;
	l->drop = drop;
	l->arg = arg;
	uv_timer_init(rs.loop, &l->timer);
	l->timer.data = l;
	LIST_INSERT_HEAD(&rs.laters, l, entry);
	uv_timer_start(&l->timer, later_fired, ms, 0);
}

/* Kill the attempt of job at once (rm, mv to failed/). */
void
run_kill(struct job *job)
{
	struct run	*r = job->run;

	if (r == NULL || r->exited || r->proc.pid <= 0)
		return;
	r->reason = REASON_CANCEL;
	kill(-r->proc.pid, SIGKILL);
	r->killed = 1;
}

/*
 * Stop every attempt for shutdown: SIGTERM now and SIGKILL after
 * kill_grace, or SIGKILL at once if hard. Nothing new starts afterwards.
 */
void
run_stop_all(int hard)
{
	struct run	*r;

	rs.stopping = 1;
	LIST_FOREACH(r, &rs.runs, entry) {
		if (r->exited || r->proc.pid <= 0)
			continue;
		if (r->reason != REASON_CANCEL)
			r->reason = REASON_STOP;
		if (hard || rs.conf->kill_grace <= 0) {
			kill(-r->proc.pid, SIGKILL);
			r->killed = 1;
			continue;
		}
		kill(-r->proc.pid, SIGTERM);
		r->termed = 1;
		uv_timer_stop(&r->timer);
		uv_timer_start(&r->timer, run_timer_fired,
		    (uint64_t)(rs.conf->kill_grace * 1000), 0);
	}
}

/* The main process of an attempt exited. */
static void
run_exited(uv_process_t *p, int64_t status, int signal)
{
	struct run	*r = p->data;

	r->exited = 1;
	r->status = (int)status;
	r->signal = signal;
	/* What is left of the group goes with it. */
	if (kill(-p->pid, SIGKILL) == 0)
		log_debug("job '%s': killed the rest of process group %d",
		    r->job->name, p->pid);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->proc, run_handle_closed);
	uv_close((uv_handle_t *)&r->timer, run_handle_closed);
}

/* One of an attempt's handles is closed; go on once all are. */
static void
run_handle_closed(uv_handle_t *h)
{
	struct run	*r = h->data;

	if (--r->handles == 0)
		run_finish(r);
}

/* Sync the log before the ending is journaled. */
static void
run_finish(struct run *r)
{
	r->fs.data = r;
	if (io_fs_fdatasync(rs.loop, &r->fs, r->logfd, run_synced) != 0)
		run_release(r);
}

/* The log is on disk; make its directory entry durable if it is new. */
static void
run_synced(uv_fs_t *req)
{
	struct run	*r = req->data;

	if (req->result < 0)
		log_warnx("job '%s': fdatasync of log: %s", r->job->name,
		    uv_strerror((int)req->result));
	uv_fs_req_cleanup(req);
	r->fs.data = r;
	if (r->created) {
		if (io_fs_fsync(rs.loop, &r->fs, rs.logdirfd,
		    run_dir_synced) == 0)
			return;
	}
	run_dir_synced(req);
}

/* Find out where the attempt's output ends. */
static void
run_dir_synced(uv_fs_t *req)
{
	struct run	*r = req->data;

	uv_fs_req_cleanup(req);
	r->fs.data = r;
	if (uv_fs_fstat(rs.loop, &r->fs, r->logfd, run_statted) != 0)
		run_release(r);
}

/* Read the last byte of the output to know whether it ends a line. */
static void
run_statted(uv_fs_t *req)
{
	struct run	*r = req->data;
	uv_buf_t	 b;

	r->a.end = req->result == 0 ? (uint64_t)req->statbuf.st_size : r->off;
	r->a.eol = 1;
	uv_fs_req_cleanup(req);
	if (r->a.end > r->off) {
		b = uv_buf_init(&r->last, 1);
		r->fs.data = r;
		r->last = '\n';
		if (uv_fs_read(rs.loop, &r->fs, r->logfd, &b, 1,
		    (int64_t)r->a.end - 1, run_read_last) == 0)
			return;
	}
	run_read_last(req);
}

/*
 * The attempt is over and its log is durable: decide where the job goes
 * and record it.
 */
static void
run_read_last(uv_fs_t *req)
{
	struct run	*r = req->data;
	struct attempt	*a = &r->a;

	if (req->fs_type == UV_FS_READ && req->result == 1)
		a->eol = r->last == '\n';
	uv_fs_req_cleanup(req);
	run_decide(r);
}

/*
 * Decide where the job goes after its attempt. The decision counts the
 * attempts the journal holds, so it waits until the record of this
 * attempt's start is committed (a fast job can end before that).
 */
static void
run_decide(void *arg)
{
	struct run	*r = arg;
	struct job	*job = r->job;
	struct attempt	*a = &r->a;
	unsigned	 failures;
	int		 next;
	int64_t		 retry_at = 0;
	double		 delay;

	if (job->inflight != 0 && !job->gone) {
		queue_wait(job, run_decide, r);
		return;
	}
	if (job->gone || r->reason == REASON_UNRECORDED) {
		run_release(r);
		return;
	}

	a->status = r->status;
	a->signal = r->signal;
	if (r->reason == REASON_STOP)
		a->how = HOW_INTERRUPTED;
	else if (r->reason == REASON_TIMEOUT)
		a->how = HOW_TIMEOUT;
	else if (r->signal != 0)
		a->how = HOW_SIGNAL;
	else
		a->how = HOW_EXIT;

	if (a->how == HOW_INTERRUPTED) {
		next = JOB_PENDING;
		log_info("job '%s': attempt %u interrupted", job->name,
		    job->natt);
	} else if (a->how == HOW_EXIT && a->status == 0) {
		next = JOB_COMPLETE;
		log_debug("job '%s': complete", job->name);
	} else {
		failures = queue_failures(job);	/* this one included */
		if (failures <= (unsigned)rs.conf->max_retries) {
			next = JOB_PENDING;
			delay = rs.conf->backoff_base *
			    pow(rs.conf->backoff_mult, failures);
			if (delay > 1e9)
				delay = 1e9;
			retry_at = util_now() + (int64_t)(delay * 1e9);
			if (retry_at == 0)
				retry_at = 1;
			log_info("job '%s': attempt %u failed (%s %d), "
			    "retry in %g s", job->name, job->natt,
			    a->signal ? "signal" : "status",
			    a->signal ? a->signal : a->status, delay);
		} else {
			next = JOB_FAILED;
			log_info("job '%s': attempt %u failed (%s %d), "
			    "no retries left", job->name, job->natt,
			    a->signal ? "signal" : "status",
			    a->signal ? a->signal : a->status);
		}
	}
	if (r->reason == REASON_CANCEL)
		next = -1;
	queue_ended(job, a, next, retry_at);
	run_release(r);
}

/* Forget a finished attempt and start whatever may start now. */
static void
run_release(struct run *r)
{
	struct job	*job = r->job;

	close(r->logfd);
	LIST_REMOVE(r, entry);
	rs.nrunning--;
	job->run = NULL;
	free(r);
	queue_unref(job);
	run_schedule();
}

/*
 * After replay: attempts the journal says are running belong to a filed
 * that died. Kill what is left of them (only if the pid still names the
 * same process, by its start time), record them as interrupted, and arm
 * the timers of jobs waiting to retry.
 */
void
run_recover(void)
{
	struct job	*job, *next;
	struct attempt	 a;
	struct stat	 st;
	char		*path, c;
	int		 fd, i;

	TAILQ_FOREACH_SAFE(job, queue_all(), all, next) {
		if (job->state == JOB_PENDING && job->retry_at != 0)
			run_arm_retry(job);
		if (job->state != JOB_ACTIVE)
			continue;
		if (job->pid > 0 && job->pst != 0 &&
		    run_proc_starttime(job->pid) == job->pst) {
			log_info("job '%s': killing process group %d left "
			    "from before the restart", job->name, job->pid);
			kill(-job->pid, SIGKILL);
			for (i = 0; i < 100 &&
			    run_proc_starttime(job->pid) == job->pst; i++)
				usleep(10000);
		}
		memset(&a, 0, sizeof a);
		a.how = HOW_INTERRUPTED;
		a.eol = 1;
		a.end = job->att[job->natt - 1].off;
		path = run_log_path(job->name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
			if (fstat(fd, &st) == 0)
				a.end = (uint64_t)st.st_size;
			if (a.end > job->att[job->natt - 1].off &&
			    pread(fd, &c, 1, (off_t)a.end - 1) == 1)
				a.eol = c == '\n';
			io_fdatasync(fd);
			close(fd);
		}
		free(path);
		log_info("job '%s': attempt %u was interrupted by a restart",
		    job->name, job->natt);
		queue_ended(job, &a, JOB_PENDING, 0);
	}
}

/* Arm the timer that puts a job waiting to retry back on the run queue. */
void
run_arm_retry(struct job *job)
{
	uv_timer_t	*t;
	int64_t		 wait;

	if (rs.loop == NULL)
		return;
	run_disarm_retry(job);
	t = xmalloc(sizeof *t);
	uv_timer_init(rs.loop, t);
	t->data = job;
	job->timer = t;
	wait = (job->retry_at - util_now()) / 1000000;
	uv_timer_start(t, retry_fired, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* A job's retry time has come. */
static void
retry_fired(uv_timer_t *t)
{
	struct job	*job = t->data;

	job->timer = NULL;
	uv_close((uv_handle_t *)t, retry_closed);
	queue_retry_due(job);
	queue_unref(job);
	run_schedule();
}

/* Free a retry timer. */
static void
retry_closed(uv_handle_t *h)
{
	free(h);
}

/* Cancel a job's retry timer, if it has one. */
void
run_disarm_retry(struct job *job)
{
	uv_timer_t	*t = job->timer;

	if (t == NULL)
		return;
	job->timer = NULL;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, retry_closed);
}

/* At shutdown: close the retry timers and what run_init opened. */
void
run_shutdown(void)
{
	struct job	*job;
	struct later	*l;

	TAILQ_FOREACH(job, queue_all(), all)
		run_disarm_retry(job);
	uv_timer_stop(&rs.blocked);
	while ((l = LIST_FIRST(&rs.laters)) != NULL) {
		LIST_REMOVE(l, entry);
		uv_timer_stop(&l->timer);
		uv_close((uv_handle_t *)&l->timer, retry_closed);
		l->drop(l->arg);
	}
	if (rs.logdirfd != -1)
		close(rs.logdirfd);
	rs.logdirfd = -1;
	free(rs.logdir);
	rs.logdir = NULL;
}

/* Delete the log of a job that is forgotten. */
void
run_log_removed(struct job *job)
{
	char	*path;

	path = run_log_path(job->name);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("job '%s': unlink %s", job->name, path);
	free(path);
}

/* Follow a job's rename with its log file. */
void
run_log_renamed(const char *from, const char *to)
{
	char	*a, *b;

	a = run_log_path(from);
	b = run_log_path(to);
	if (rename(a, b) == -1 && errno != ENOENT)
		log_warn("rename %s to %s", a, b);
	free(a);
	free(b);
}
