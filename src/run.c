/*
 * run.c: running attempts.
 *
 * - An attempt is a child started with posix_spawn (no copy of filed's
 *   address space, whatever its size) in its own session and process
 *   group, stdin on /dev/null, stdout and stderr on STATEDIR/output/ID
 *   opened O_APPEND: the child writes its log directly and filed copies
 *   nothing. A log is named by the job's id, which never changes and is
 *   never reused, not by its name: renaming a job never touches the logs
 *   directory, so no crash can leave the journal and the log files
 *   disagreeing about a name, and a new job that takes the name of one
 *   just removed can never meet that job's file. The script reaches the
 *   interpreter as /dev/fd/3, a memfd holding the job's text; a script
 *   without #! reaches dash in its arguments too (-c TEXT /dev/fd/3,
 *   run_argv), which spares the shell opening and reading a file. filed
 *   reaps its children itself on SIGCHLD, each by its pid (libuv's
 *   process handles are not used).
 * - When the main process exits, what is left of its process group is
 *   killed, before the main process is reaped so that the group id cannot
 *   have been reused: an attempt is over when its script is. Its runner
 *   slot is free from then on; the bookkeeping below goes on beside the
 *   next attempt.
 * - Then, if the attempt wrote anything, the log is fdatasync'd (and the
 *   logs directory fsync'd if the attempt created the file) before the
 *   record of the ending is appended, so a journal that says an attempt
 *   ended at offset N has those N bytes.
 * - A log file costs an inode, and making one is the dearest step of a
 *   short job on some file systems. So a new log is a spare file renamed
 *   into place, and an attempt that wrote nothing gives its file back as
 *   a spare (STATEDIR/output/.spare-N). A file is given back only through
 *   the attempt's own open file, only while its job still exists, and
 *   only if no other
 *   process has it open (a write lease is granted only then), so that a
 *   stray process of one job can never write into another job's log. An
 *   empty log and a missing log read the same.
 * - With max_log_size set, an attempt writes into a pipe instead, and
 *   filed splices what comes out of it into the log up to max_log_size
 *   bytes, then into /dev/null, counting; when the attempt ends, the pipe
 *   is drained and a line saying how much was dropped ends its output.
 *   splice refuses O_APPEND files, so the log's own open file loses
 *   O_APPEND meanwhile (filed alone writes it, at the offset the output
 *   has reached). It is that open file, and not another: one opened for
 *   the splice could outlive its close for an instant in the child of the
 *   next spawn (which closes its copies of filed's descriptors only after
 *   posix_spawn has returned), and deny the lease run_spare_give needs.
 *   The copy is the kernel's, from the pipe's pages, on the loop thread;
 *   a full pipe holds the attempt up, as a slow disk would. Without
 *   max_log_size nothing of this runs.
 * - Timeouts send SIGTERM to the group, then SIGKILL kill_grace seconds
 *   later. Cancels (rm, mv to failed/) send SIGKILL at once. timeout,
 *   kill_grace, max_retries, the backoff and nice are the job's own where
 *   its policy gives them (user.filed.*, run_setting), else the settings.
 * - posix_spawn cannot set a niceness: an attempt with one starts as
 *   filed --exec-nice N, which sets it and execs the rest (main.c).
 * - Jobs waiting to retry each hold a uv timer that puts them back on the
 *   run queue when their time comes.
 * - What every attempt shares is made once per change of the settings
 *   (run_reconf), not once per attempt: the environment (filed's, then
 *   [env], with three slots left for each attempt's FILED_* variables),
 *   the file actions that enter workdir, and the umask, which is filed's
 *   own too (it only masks group and other bits, and filed makes its own
 *   files 0600 and directories 0700, so it never changes them).
 * - The working directory: posix_spawn enters it in the child, with
 *   posix_spawn_file_actions_addchdir_np. Where libc lacks that, and
 *   always for run_as = submitter (the directory is then entered with the
 *   submitter's rights, and defaults to their home), the child is the
 *   filed binary itself (--exec-in, --exec-as in main.c), which enters it
 *   and then runs the interpreter. filed never changes its own directory:
 *   the thread pool resolves paths against it.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

extern char **environ;

/* Spare log files kept at most. */
#define RUN_SPARES	64

/* Bytes a splice moves at most, and splices one wakeup makes at most. */
#define RUN_CAP_CHUNK	(1U << 20)
#define RUN_CAP_BURST	16

/* What run_cap_drain found. */
enum {
	CAP_EMPTY,		/* nothing more for now */
	CAP_MORE,		/* the burst is over, more may be there */
	CAP_END			/* no writer is left */
};

/* The variables filed sets for each attempt, at the end of rs.env. */
#define RUN_ENV_OWN	3

/*
 * The argv of an interpreter: PROGRAM [ARG] [-c TEXT] /dev/fd/3 NULL.
 * The kernel's limit on one argument (MAX_ARG_STRLEN, with its NUL), and
 * room kept in ARG_MAX for the rest of argv, a trampoline's arguments and
 * each attempt's FILED_* variables.
 */
#define RUN_ARGV	6
#define RUN_ARG_STRLEN	(32 * 4096)
#define RUN_ARG_SLACK	(3 * 4096)

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
	uv_timer_t	 timer;
	uv_fs_t		 fs;
	struct job	*job;
	pid_t		 pid;		/* 0 once reaped, or if none started */
	int		 logfd;
	uint64_t	 off;
	int		 created;	/* the log file is new to this attempt */
	int		 reason;
	int		 exited;	/* its process is reaped */
	int		 ended;		/* run_ended has begun */
	int		 status;
	int		 signal;
	int		 termed;	/* SIGTERM has been sent */
	int		 killed;	/* SIGKILL has been sent */
	int		 capped;	/* max_log_size: logfd without O_APPEND */
	int		 pipefd;	/* its output, or -1 */
	uv_poll_t	*poll;		/* on pipefd */
	uint64_t	 cap;		/* max_log_size when it started */
	uint64_t	 woff;		/* where its next kept byte goes */
	uint64_t	 room;		/* bytes it may still add to its log */
	uint64_t	 dropped;	/* bytes beyond cap, thrown away */
	struct attempt	 a;
	LIST_ENTRY(run)	 entry;
};

struct spare {
	int		 fd;
	unsigned	 n;
};

static struct {
	uv_loop_t	*loop;
	char		*logdir;
	int		 logdirfd;
	int		 devnull;
	int		 nullw;		/* /dev/null, where splice drops */
	int		 outslot;	/* where a child's stdout is put */
	int		 memslot;	/* where a child's script is put */
	posix_spawn_file_actions_t fa;
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
	posix_spawn_file_actions_t fadir; /* fa, then enter workdir */
	int		 fadir_made;
#endif
	posix_spawnattr_t attr;
	struct conf	*conf;
	char		**env;		/* the attempts' environment */
	size_t		 nenv;		/* its entries before FILED_JOB's */
	size_t		 envsize;	/* its bytes as execve counts them */
	size_t		 argmax;	/* ARG_MAX, when the settings came */
	int		 inline_ok;	/* the shell takes -c (run_inline) */
	struct conf_map	 envmap;	/* [env] as env was built from it */
	unsigned	 nrunning;	/* attempts whose process runs */
	unsigned	 nlive;		/* attempts not yet released */
	unsigned	 recovering;	/* interrupted attempts being recorded */
	int		 stopping;
	uv_timer_t	 blocked;	/* retries run_schedule */
	uv_signal_t	 sigchld;
	struct spare	 spares[RUN_SPARES];
	unsigned	 nspares;
	unsigned	 nextspare;	/* number of the next spare's name */
	char		*mark;		/* FILED_RUN's MARK: this STATEDIR */
	LIST_HEAD(, run) runs;
	LIST_HEAD(, later) laters;
} rs;

static const char *run_log_name(const struct job *, char *, size_t);
static void	 run_logs_tidy(const char *);
static int	 run_start(struct job *);
static void	 run_sigchld(uv_signal_t *, int);
static void	 run_reaped(struct run *, int);
static void	 run_ended(struct run *);
static void	 run_timer_fired(uv_timer_t *);
static void	 run_synced(uv_fs_t *);
static void	 run_dir_synced(uv_fs_t *);
static int	 run_env_kept(const char *);
static int	 run_env_own(const char *);
static int	 run_env_set(const struct conf_map *, const char *);
static void	 run_env_build(void);
static void	 run_fa_fds(posix_spawn_file_actions_t *);
static void	 run_apply(void);
static int	 run_cap_open(struct run *);
static int	 run_cap_drain(struct run *, unsigned);
static void	 run_cap_readable(uv_poll_t *, int, int);
static void	 run_cap_close(struct run *);
static void	 run_cap_finish(struct run *);
static int	 run_submitter(void);
static void	 run_decide(void *);
static void	 run_release(struct run *);
static void	 run_freed(uv_handle_t *);
static int	 run_argv(const struct job *, char **, char *);
static int	 run_shell_inline(const char *);
static int	 run_inline(const struct job *);
static double	 run_setting(const struct job *, int, double);
static int	 run_open_log(struct job *, struct run *);
static int	 run_fd_slot(int, int);
static void	 run_fd_slots_clear(void);
static int	 run_spare_take(const char *);
static int	 run_spare_give(struct run *);
static void	 retry_fired(uv_timer_t *);
static void	 run_unblocked(uv_timer_t *);
static void	 run_recovered(void *);
static void	 retry_closed(uv_handle_t *);

/* Set up the runner: logs live in STATEDIR/output. */
void
run_init(uv_loop_t *loop, const char *statedir, struct conf *conf)
{
	sigset_t	all, none;
	int		fd;

	memset(&rs, 0, sizeof rs);
	rs.loop = loop;
	rs.conf = conf;
	LIST_INIT(&rs.runs);
	LIST_INIT(&rs.laters);
	rs.logdir = xasprintf("%s/output", statedir);
	rs.mark = orphan_mark(statedir);
	if (mkdir(rs.logdir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", rs.logdir);
	rs.logdirfd = open(rs.logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs.logdirfd == -1)
		fatal("open %s", rs.logdir);
	run_logs_tidy(statedir);
	/*
	 * The child's fds come from three fixed descriptors above its 0-3
	 * (a dup2 onto itself would keep close-on-exec): /dev/null, and two
	 * slots that hold /dev/null between spawns and the attempt's log
	 * and script during one. So the spawn's file actions and attributes
	 * are made once, here.
	 */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (rs.devnull = fcntl(fd, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (rs.outslot = fcntl(fd, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (rs.memslot = fcntl(fd, F_DUPFD_CLOEXEC, 10)) == -1)
		fatal("open /dev/null");
	close(fd);
	if ((rs.nullw = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		fatal("open /dev/null");
	run_fa_fds(&rs.fa);
	/*
	 * The child starts a session of its own (its process group is the
	 * attempt), with every signal at its default and none blocked:
	 * filed ignores SIGPIPE and SIGIO, its jobs must not.
	 */
	sigfillset(&all);
	sigemptyset(&none);
	if (posix_spawnattr_init(&rs.attr) != 0 ||
	    posix_spawnattr_setflags(&rs.attr, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0 ||
	    posix_spawnattr_setsigdefault(&rs.attr, &all) != 0 ||
	    posix_spawnattr_setsigmask(&rs.attr, &none) != 0)
		fatalx("posix_spawnattr");
	/*
	 * A lease is broken with SIGIO to its holder; filed holds one only
	 * for an instant (run_spare_give) and must not die of it.
	 */
	signal(SIGIO, SIG_IGN);
	uv_timer_init(loop, &rs.blocked);
	uv_signal_init(loop, &rs.sigchld);
	uv_signal_start(&rs.sigchld, run_sigchld, SIGCHLD);
	run_apply();
}

/* Make fa: the descriptors 0 to 3 of a child, from the slots. */
static void
run_fa_fds(posix_spawn_file_actions_t *fa)
{
	if (posix_spawn_file_actions_init(fa) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, rs.devnull, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, rs.outslot, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, rs.outslot, 2) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, rs.memslot, 3) != 0)
		fatalx("posix_spawn_file_actions");
}

/* Do attempts run as their submitter (through filed --exec-as)? */
static int
run_submitter(void)
{
	return rs.conf->run_as == RUN_AS_SUBMITTER && geteuid() == 0;
}

/* Is this one of the variables filed sets for each attempt? */
static int
run_env_own(const char *var)
{
	return strncmp(var, "FILED_JOB=", 10) == 0 ||
	    strncmp(var, "FILED_ATTEMPT=", 14) == 0 ||
	    strncmp(var, "FILED_RUN=", 10) == 0;
}

/* Does the map set the variable var ("NAME=value") names? */
static int
run_env_set(const struct conf_map *m, const char *var)
{
	size_t		n = strcspn(var, "=");
	unsigned	e;

	for (e = 0; e < m->n; e++) {
		if (strncmp(m->ent[e], var, n) == 0 && m->ent[e][n] == '=')
			return 1;
	}
	return 0;
}

/*
 * Build the attempts' environment: filed's own (with run_as = submitter
 * only PATH and the locale of it) but the variables filed sets for each
 * attempt, then [env], which wins over filed's own; then three empty
 * slots for each attempt's FILED_JOB, FILED_ATTEMPT and FILED_RUN.
 */
static void
run_env_build(void)
{
	size_t		n, i, k;
	unsigned	e;
	int		submitter = run_submitter();

	rs.envmap = rs.conf->env;
	for (n = 0; environ[n] != NULL; n++)
		;
	free(rs.env);
	rs.env = xcalloc(n + rs.envmap.n + RUN_ENV_OWN + 1, sizeof *rs.env);
	for (i = k = 0; i < n; i++) {
		/*
		 * A job run as its submitter gets no more of filed's (root's)
		 * environment than PATH and the locale; filed --exec-as
		 * adds HOME, USER, LOGNAME and SHELL from the submitter's
		 * passwd where [env] does not set them.
		 */
		if (run_env_own(environ[i]) ||
		    (submitter && !run_env_kept(environ[i])) ||
		    run_env_set(&rs.envmap, environ[i]))
			continue;
		rs.env[k++] = environ[i];
	}
	for (e = 0; e < rs.envmap.n; e++)
		rs.env[k++] = rs.envmap.ent[e];
	rs.nenv = k;
	rs.envsize = 0;
	for (i = 0; i < k; i++)
		rs.envsize += strlen(rs.env[i]) + 1 + sizeof(char *);
}

/*
 * Take on the settings in force: the umask, the environment and the
 * directory of attempts that start from now on.
 */
static void
run_apply(void)
{
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
	const char	*dir = rs.conf->workdir;
#endif
	long		 argmax;

	umask((mode_t)rs.conf->umask);
	run_env_build();
	/* ARG_MAX follows the stack limit, which attempts inherit. */
	argmax = sysconf(_SC_ARG_MAX);
	rs.argmax = argmax > 0 ? (size_t)argmax : 0;
	rs.inline_ok = run_shell_inline(rs.conf->shell);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
	if (rs.fadir_made)
		posix_spawn_file_actions_destroy(&rs.fadir);
	run_fa_fds(&rs.fadir);
	if (posix_spawn_file_actions_addchdir_np(&rs.fadir,
	    *dir != '\0' ? dir : "/") != 0)
		fatalx("posix_spawn_file_actions_addchdir_np");
	rs.fadir_made = 1;
#endif
}

/* The settings changed: take them on, and start what may start now. */
void
run_reconf(void)
{
	if (rs.loop == NULL)
		return;
	run_apply();
	run_schedule();
}

/* Try to start jobs again after the journal refused changes. */
static void
run_unblocked(uv_timer_t *t)
{
	run_schedule();
}

/* Put the name of a job's log file (its id) into buf. */
static const char *
run_log_name(const struct job *job, char *buf, size_t size)
{
	snprintf(buf, size, "%llu", (unsigned long long)job->id);
	return buf;
}

/* Return the path of a job's log file (malloc'd). */
char *
run_log_path(const struct job *job)
{
	return xasprintf("%s/%llu", rs.logdir, (unsigned long long)job->id);
}

/*
 * Make STATEDIR/output hold exactly the logs of the jobs replay found:
 * move the logs of an older filed (STATEDIR/logs/NAME) to their ids,
 * then remove what belongs to no job (left by a crash after an rm) and
 * the spare files of the last run. Each step is a rename or an unlink
 * and the directories are synced at the end, so a crash midway leaves
 * files that the next start moves or removes the same way.
 */
static void
run_logs_tidy(const char *statedir)
{
	struct dirent	*de;
	struct job	*job;
	char		*old, *path, name[32];
	uint64_t	 id;
	char		*end;
	DIR		*d;
	int		 fd;

	old = xasprintf("%s/logs", statedir);
	if ((d = opendir(old)) != NULL) {
		log_info("moving the logs of %s to %s", old, rs.logdir);
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", old, de->d_name);
			if ((job = queue_by_name(de->d_name)) != NULL &&
			    renameat(AT_FDCWD, path, rs.logdirfd,
			    run_log_name(job, name, sizeof name)) == -1)
				fatal("rename %s to %s/%s", path, rs.logdir,
				    name);
			free(path);
		}
		closedir(d);
		if (fsync(rs.logdirfd) == -1)
			fatal("fsync %s", rs.logdir);
		if ((d = opendir(old)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (strcmp(de->d_name, ".") == 0 ||
				    strcmp(de->d_name, "..") == 0)
					continue;
				path = xasprintf("%s/%s", old, de->d_name);
				if (unlink(path) == -1)
					log_warn("unlink %s", path);
				free(path);
			}
			closedir(d);
		}
		if (rmdir(old) == -1)
			log_warn("rmdir %s", old);
		else if (util_fsync_dir(statedir) == -1)
			log_warn("fsync %s", statedir);
	}
	free(old);

	if ((fd = dup(rs.logdirfd)) == -1 || (d = fdopendir(fd)) == NULL)
		fatal("opendir %s", rs.logdir);
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 10);
		if (de->d_name[0] != '.' && errno == 0 && *end == '\0' &&
		    (job = queue_by_id(id)) != NULL && !job->gone &&
		    strcmp(run_log_name(job, name, sizeof name),
		    de->d_name) == 0)
			continue;
		if (de->d_name[0] != '.')
			log_info("removing %s/%s: it belongs to no job",
			    rs.logdir, de->d_name);
		if (unlinkat(rs.logdirfd, de->d_name, 0) == -1)
			log_warn("unlink %s/%s", rs.logdir, de->d_name);
	}
	closedir(d);
}

/* The number of attempts whose process or bookkeeping is still live. */
unsigned
run_count(void)
{
	return rs.nlive;
}

/* The log fd of a running attempt, or -1. */
int
run_log_fd(struct job *job)
{
	return job->live != NULL && job->live->run != NULL ?
	    job->live->run->logfd : -1;
}

/* Start queued jobs while fewer than max_jobs run. */
void
run_schedule(void)
{
	struct job	*job;

	if (rs.loop == NULL || rs.recovering > 0)
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
		if (run_start(job) != 0) {
			/*
			 * Nothing started for want of a resource: the job keeps
			 * its place, and the runner looks again in a second,
			 * whether or not anything else happens meanwhile.
			 */
			if (!uv_is_active((uv_handle_t *)&rs.blocked))
				uv_timer_start(&rs.blocked, run_unblocked,
				    1000, 0);
			break;
		}
	}
}

/*
 * The creator of a job being written let go of it: its text is final and
 * it may run. If a slot is free and no job waits ahead of it, it starts
 * at once, and the record of its start also says that it was queued: a
 * job written while the runner is idle starts as soon as its creator
 * closed it, with no record more than before. Otherwise a "queue" record
 * puts it at the queue's tail.
 */
void
run_released(struct job *job)
{
	queue_live(job)->releasing = 1;
	if (rs.loop != NULL && rs.recovering == 0 && !rs.stopping &&
	    queue_writable() && rs.nrunning < (unsigned)rs.conf->max_jobs &&
	    queue_next_ready() == NULL && run_start(job) == 0)
		return;
	queue_release(job);
}

/*
 * The interpreter of a script: "#!PATH ARG" gives PATH and at most one
 * argument (interp_split); a script without one gets the shell setting,
 * split the same way. Fill argv (RUN_ARGV slots): the interpreter, its
 * argument, then /dev/fd/3; or, for a script without #! that run_inline
 * allows, "-c TEXT /dev/fd/3" after the shell and its argument, so that
 * the shell finds its script in its arguments, not by opening and
 * reading a file ($0 is /dev/fd/3 all the same, and holds the text).
 * Return 0, or -1 if the line is unusable. line is scratch space of at
 * least 256 bytes.
 */
static int
run_argv(const struct job *job, char **argv, char *line)
{
	const char	*text = queue_text(job), *nl;
	char		*prog, *arg;
	size_t		 n, k;
	int		 shell;

	shell = job->textlen < 2 || text[0] != '#' || text[1] != '!';
	if (shell) {
		n = strlen(rs.conf->shell);
		if (n > 255)
			return -1;
		memcpy(line, rs.conf->shell, n + 1);
	} else {
		nl = memchr(text, '\n', job->textlen);
		n = (nl != NULL ? (size_t)(nl - text) : job->textlen) - 2;
		if (n > 255)
			return -1;
		memcpy(line, text + 2, n);
		line[n] = '\0';
	}
	if (interp_split(line, &prog, &arg) != 0)
		return -1;
	k = 0;
	argv[k++] = prog;
	if (*arg != '\0')
		argv[k++] = arg;
	if (shell && run_inline(job)) {
		argv[k++] = "-c";
		argv[k++] = (char *)text;
	}
	argv[k++] = "/dev/fd/3";
	argv[k] = NULL;
	return 0;
}

/*
 * Does the shell setting name a shell that runs "-c TEXT NAME" as it runs
 * the file NAME: $0 is NAME, errors name it with the script's own line
 * numbers, and it stays the process that runs the script? dash does
 * (the program, resolved through links, is dash), with no argument or
 * one word of options that neither reads commands (c, s, i) nor takes an
 * operand (o). Not bash, which replaces itself with the last command of
 * a -c script, nor busybox, whose sh numbers the lines of one wrongly,
 * nor any program not checked. They get /dev/fd/3 alone.
 */
static int
run_shell_inline(const char *shell)
{
	char		 line[256], *prog, *arg, *real, *base;
	int		 dash;

	if (strlen(shell) >= sizeof line)
		return 0;
	memcpy(line, shell, strlen(shell) + 1);
	if (interp_split(line, &prog, &arg) != 0 ||
	    (real = realpath(prog, NULL)) == NULL)
		return 0;
	base = strrchr(real, '/') != NULL ? strrchr(real, '/') + 1 : real;
	dash = strcmp(base, "dash") == 0;
	free(real);
	return dash && (*arg == '\0' || ((*arg == '-' || *arg == '+') &&
	    arg[1] != '\0' &&
	    arg[1 + strspn(arg + 1, "abefhmnuvxCE")] == '\0'));
}

/*
 * May job's text (a script without #!) reach the shell in its arguments?
 * Only if the shell runs -c as it runs a file (run_shell_inline), the
 * text does not start with - or + (the shell would take it for options),
 * has no NUL (an argument ends at the first), is shorter than the
 * kernel's limit for one argument (MAX_ARG_STRLEN, 32 pages with its
 * NUL), and fits in ARG_MAX with the environment and what a trampoline
 * adds. Otherwise the shell reads it from /dev/fd/3, which holds it in
 * every case.
 */
static int
run_inline(const struct job *job)
{
	const char	*text = queue_text(job);

	return rs.inline_ok && text[0] != '-' && text[0] != '+' &&
	    job->textlen < RUN_ARG_STRLEN &&
	    rs.envsize + job->textlen + RUN_ARG_SLACK <= rs.argmax &&
	    memchr(text, '\0', job->textlen) == NULL;
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

/* Put fd into slot (closing fd) for the next spawn. Returns 0 or -1. */
static int
run_fd_slot(int fd, int slot)
{
	int	rv;

	rv = dup3(fd, slot, O_CLOEXEC) == -1 ? -1 : 0;
	close(fd);
	return rv;
}

/*
 * After a spawn: the slots go back to /dev/null, so that filed holds no
 * open file of the child's log (see run_spare_give).
 */
static void
run_fd_slots_clear(void)
{
	if (dup3(rs.devnull, rs.outslot, O_CLOEXEC) == -1 ||
	    dup3(rs.devnull, rs.memslot, O_CLOEXEC) == -1)
		fatal("dup3");
}

/*
 * Open the log of job's next attempt into r: for a retry the job's log
 * file if it has one; else (and for a first attempt) a spare renamed into
 * place, else a new or emptied file. Returns 0 or -1 (errno set).
 */
static int
run_open_log(struct job *job, struct run *r)
{
	struct stat	 st;
	char		 name[32];
	int		 flags, e;

	run_log_name(job, name, sizeof name);
	flags = O_RDWR | O_APPEND | O_CLOEXEC;
	r->logfd = -1;
	if (job->natt > 0)
		r->logfd = openat(rs.logdirfd, name, flags); /* a retry appends */
	if (r->logfd == -1 && (job->natt == 0 || errno == ENOENT)) {
		/*
		 * A first attempt starts an empty log: a spare renamed over
		 * whatever an earlier run of the job left, else a new file.
		 * Readers of that earlier file keep it (fsops.c shares one
		 * descriptor among them): the job's readers from now on
		 * must open the new one.
		 */
		queue_live(job)->logref = NULL;
		r->created = 1;
		if ((r->logfd = run_spare_take(name)) == -1) {
			r->logfd = openat(rs.logdirfd, name,
			    flags | O_CREAT | O_EXCL, 0600);
			if (r->logfd == -1 && errno == EEXIST) {
				r->created = 0;
				r->logfd = openat(rs.logdirfd, name,
				    flags | O_TRUNC);
			}
		}
	}
	if (r->logfd == -1 || fstat(r->logfd, &st) == -1) {
		e = errno;
		if (r->logfd != -1)
			close(r->logfd);
		r->logfd = -1;
		errno = e;
		return -1;
	}
	r->off = (uint64_t)st.st_size;
	return 0;
}

/*
 * Rename a spare log file to name (in the logs directory) and return its
 * fd, or -1 if there is none (or it cannot be moved: it is then dropped).
 */
static int
run_spare_take(const char *to)
{
	struct spare	*sp;
	char		 name[32];

	while (rs.nspares > 0) {
		sp = &rs.spares[--rs.nspares];
		snprintf(name, sizeof name, ".spare-%u", sp->n);
		if (renameat(rs.logdirfd, name, rs.logdirfd, to) == 0)
			return sp->fd;
		log_warn("rename %s/%s to %s", rs.logdir, name, to);
		close(sp->fd);
	}
	return -1;
}

/*
 * An attempt that wrote nothing into a log file it created: give the file
 * back as a spare. The job's log is then empty, which a missing file
 * reads as. Returns 1 if the file was taken, else 0 (it stays as the
 * job's empty log).
 */
static int
run_spare_give(struct run *r)
{
	struct spare	*sp;
	struct stat	 mine, named;
	char		 name[32], id[32];
	int		 taken = 0;

	if (!r->created || r->off != 0 || r->a.end != 0 || r->job->gone ||
	    rs.nspares == RUN_SPARES || rs.stopping)
		return 0;
	/*
	 * A write lease is granted only when no other open file (a reader
	 * of active/NAME, a process of the job that escaped its group)
	 * refers to the file: then nobody can write into it after it has
	 * become another job's log. The file is taken by its name only if
	 * that name is still this attempt's own file.
	 */
	run_log_name(r->job, id, sizeof id);
	if (fstat(r->logfd, &mine) == -1 ||
	    fstatat(rs.logdirfd, id, &named, AT_SYMLINK_NOFOLLOW) == -1 ||
	    mine.st_ino != named.st_ino || mine.st_dev != named.st_dev)
		return 0;
	if (fcntl(r->logfd, F_SETLEASE, F_WRLCK) == -1)
		return 0;
	snprintf(name, sizeof name, ".spare-%u", rs.nextspare);
	if (renameat(rs.logdirfd, id, rs.logdirfd, name) == 0) {
		sp = &rs.spares[rs.nspares++];
		sp->fd = r->logfd;
		sp->n = rs.nextspare++;
		r->logfd = -1;
		taken = 1;
	}
	if (fcntl(taken ? sp->fd : r->logfd, F_SETLEASE, F_UNLCK) == -1)
		log_warn("release lease");
	return taken;
}

/* A setting for job's attempts: its policy's own value, else dflt. */
static double
run_setting(const struct job *job, int k, double dflt)
{
	return policy_num(job->live != NULL ? job->live->policy : NULL, k,
	    dflt);
}

/* Start the next attempt of job. Returns -1 if nothing could start. */
static int
run_start(struct job *job)
{
	struct run		*r;
	char			*argv[RUN_ARGV], line[256], *ebuf[RUN_ENV_OWN];
	char			*xargv[8 + RUN_ARGV], ids[2][24], niceness[8];
	char			*file, **args, *dir;
	char			 lname[32];
	const char		*why = NULL, *what;
	posix_spawn_file_actions_t *fa = &rs.fa;
	size_t			 i, k;
	int			 memfd = -1, outfd, error, e;
	double			 timeout;

	/*
	 * What the attempt needs from the system comes first: the script in
	 * a memfd, the log, the child's own open file of the log. Without
	 * them (no descriptor, no memory, a full disk) nothing has started:
	 * the job keeps its place and run_schedule tries again later.
	 */
	r = xcalloc(1, sizeof *r);
	r->logfd = outfd = r->pipefd = -1;
	what = "memfd_create";
	if ((memfd = memfd_create("filed-job", MFD_CLOEXEC)) == -1)
		goto unavailable;
	if (write(memfd, queue_text(job), job->textlen) !=
	    (ssize_t)job->textlen) {
		if (errno == 0)
			errno = ENOSPC;
		goto unavailable;
	}
	what = "open log";
	if (run_open_log(job, r) != 0)
		goto unavailable;
	/*
	 * The child writes through an open file of its own, not a dup of
	 * filed's: the kernel counts open files, not descriptors, when it
	 * grants the lease that tells whether anyone still holds the log
	 * (run_spare_give). With max_log_size, into a pipe to filed.
	 */
	run_log_name(job, lname, sizeof lname);
	if (rs.conf->max_log_size > 0) {
		what = "pipe";
		outfd = run_cap_open(r);
	} else
		outfd = openat(rs.logdirfd, lname,
		    O_WRONLY | O_APPEND | O_CLOEXEC);
	if (outfd == -1)
		goto unavailable;
	what = "dup3";
	e = run_fd_slot(outfd, rs.outslot);
	outfd = -1;
	if (e == -1)
		goto unavailable;
	e = run_fd_slot(memfd, rs.memslot);
	memfd = -1;
	if (e == -1)
		goto unavailable;

	r->job = job;
	queue_live(job)->run = r;
	LIST_INSERT_HEAD(&rs.runs, r, entry);
	rs.nrunning++;
	rs.nlive++;
	uv_timer_init(rs.loop, &r->timer);
	r->timer.data = r;

	if (run_argv(job, argv, line) != 0) {
		error = -ENOEXEC;
		goto failed;
	}
	/*
	 * An interpreter in filed's own mount: posix_spawn would hold filed
	 * while the exec waits for filed to answer (interp.c). Relative
	 * paths are taken from workdir, else / (not checked when it is the
	 * submitter's home, which only --exec-as finds).
	 */
	if (job->textlen >= 2 && queue_text(job)[0] == '#' &&
	    queue_text(job)[1] == '!' && interp_in_mount(argv[0],
	    *rs.conf->workdir != '\0' ? rs.conf->workdir :
	    run_submitter() ? "" : "/")) {
		why = "names a #! interpreter inside filed's own mount";
		error = -EACCES;
		goto failed;
	}
	if (rs.conf->run_as == RUN_AS_SUBMITTER && job->uid == 0 &&
	    !rs.conf->allow_root) {
		why = "was created by root and allow_root is 0";
		error = -EPERM;
		goto failed;
	}
	/*
	 * The steps an attempt may need before its interpreter, each a
	 * trampoline that execs what follows: filed --exec-nice N sets the
	 * niceness (posix_spawn cannot); filed --exec-as UID GID DIR takes
	 * on the creator's identity and enters DIR; filed --exec-in DIR
	 * enters DIR where libc has no chdir action. The directory is
	 * workdir, else / (with run_as = submitter: "~", the submitter's
	 * home, found by --exec-as).
	 */
	dir = rs.conf->workdir;
	k = 0;
	snprintf(niceness, sizeof niceness, "%ld",
	    (long)run_setting(job, POL_NICE, (double)rs.conf->nice));
	if (strcmp(niceness, "0") != 0) {
		xargv[k++] = "/proc/self/exe";
		xargv[k++] = "--exec-nice";
		xargv[k++] = niceness;
	}
	if (run_submitter()) {
		/* filed --exec-as UID GID DIR takes on the creator's identity. */
		snprintf(ids[0], sizeof ids[0], "%lu", (unsigned long)job->uid);
		snprintf(ids[1], sizeof ids[1], "%lu", (unsigned long)job->gid);
		xargv[k++] = "/proc/self/exe";
		xargv[k++] = "--exec-as";
		xargv[k++] = ids[0];
		xargv[k++] = ids[1];
		xargv[k++] = *dir != '\0' ? dir : "~";
	} else {
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
		fa = &rs.fadir;
#else
		/* No chdir action in this libc: filed --exec-in DIR does it. */
		xargv[k++] = "/proc/self/exe";
		xargv[k++] = "--exec-in";
		xargv[k++] = *dir != '\0' ? dir : "/";
#endif
	}
	if (k > 0) {
		for (i = 0; i < RUN_ARGV && argv[i] != NULL; i++)
			xargv[k + i] = argv[i];
		xargv[k + i] = NULL;
	} else
		xargv[0] = NULL;

	ebuf[0] = xasprintf("FILED_JOB=%s", job->name);
	ebuf[1] = xasprintf("FILED_ATTEMPT=%u", job->natt + 1);
	/* The mark a restarted filed kills orphans by (orphan.c). */
	ebuf[2] = xasprintf("FILED_RUN=%s/%llu/%u", rs.mark,
	    (unsigned long long)job->id, job->natt + 1);
	for (i = 0; i < RUN_ENV_OWN; i++)
		rs.env[rs.nenv + i] = ebuf[i];

	file = xargv[0] != NULL ? xargv[0] : argv[0];
	args = xargv[0] != NULL ? xargv : argv;
	/*
	 * posix_spawn, not posix_spawnp: a #! interpreter is a path, as for
	 * the kernel, never looked up on PATH.
	 */
	util_nofile_jobs(1);
	error = -posix_spawn(&r->pid, file, fa, &rs.attr, args, rs.env);
	util_nofile_jobs(0);
	for (i = 0; i < RUN_ENV_OWN; i++) {
		rs.env[rs.nenv + i] = NULL;
		free(ebuf[i]);
	}
	run_fd_slots_clear();
	if (error == -EAGAIN || error == -ENOMEM) {
		/* No process or no memory for one: not started at all. */
		r->pid = 0;
		errno = -error;
		what = "posix_spawn";
		LIST_REMOVE(r, entry);
		rs.nrunning--;
		rs.nlive--;
		job->live->run = NULL;
		run_cap_finish(r);
		close(r->logfd);
		uv_close((uv_handle_t *)&r->timer, run_freed);
		log_warn("job '%s': cannot start now (%s), trying again in "
		    "1 s", job->name, what);
		return -1;
	}
	if (error != 0) {
		r->pid = 0;
		goto failed;
	}

	queue_started(job, r->pid, orphan_ticks(), r->off);
	log_debug("job '%s': attempt %u started, pid %d", job->name,
	    job->natt + 1, r->pid);
	if (r->pipefd != -1) {
		r->poll = xmalloc(sizeof *r->poll);
		if (uv_poll_init(rs.loop, r->poll, r->pipefd) != 0)
			fatalx("uv_poll_init");
		r->poll->data = r;
		uv_poll_start(r->poll, UV_READABLE, run_cap_readable);
	}
	if ((timeout = run_setting(job, POL_TIMEOUT, rs.conf->timeout)) > 0) {
		/*
		 * The loop's clock is the time its iteration began, which a
		 * busy loop leaves behind: a timeout counted from it would
		 * fire early.
		 */
		uv_update_time(rs.loop);
		uv_timer_start(&r->timer, run_timer_fired,
		    (uint64_t)(timeout * 1000), 0);
	}
	return 0;

unavailable:
	log_warn("job '%s': cannot start now (%s), trying again in 1 s",
	    job->name, what);
	if (memfd != -1)
		close(memfd);
	if (outfd != -1)
		close(outfd);
	run_cap_finish(r);
	if (r->logfd != -1)
		close(r->logfd);
	free(r);
	run_fd_slots_clear();
	return -1;

failed:
	/*
	 * The attempt could not start (no interpreter, a bad #! line): it is
	 * recorded like one that ran and exited 127 (126 when it may not
	 * run), with the reason in its log, so that retries and failed/ work
	 * as usual.
	 */
	run_cap_finish(r);
	if (why != NULL) {
		log_warnx("job '%s': not run: it %s", job->name, why);
		run_log_line(r->logfd, "filed: job '%s' %s\n", job->name, why);
	} else if (fa != &rs.fa) {
		/* The error is the directory's or the interpreter's. */
		dir = *dir != '\0' ? dir : "/";
		log_warnx("job '%s': cannot start in %s: %s", job->name, dir,
		    strerror(-error));
		run_log_line(r->logfd, "filed: cannot run job '%s': %s "
		    "(working directory %s)\n", job->name, strerror(-error),
		    dir);
	} else {
		log_warnx("job '%s': cannot start: %s", job->name,
		    strerror(-error));
		run_log_line(r->logfd, "filed: cannot run job '%s': %s\n",
		    job->name, strerror(-error));
	}
	run_fd_slots_clear();
	queue_started(job, 0, 0, r->off);
	run_reaped(r, why != NULL ? 126 << 8 : 127 << 8);
	run_ended(r);
	return 0;
}

/*
 * max_log_size: make r's pipe, and take O_APPEND off its log (r->logfd,
 * at the end of the log) for splice. Return the pipe's write end, for
 * the child, or -1.
 */
static int
run_cap_open(struct run *r)
{
	int	p[2], e, fl;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
	    (fl = fcntl(r->logfd, F_GETFL)) == -1 ||
	    fcntl(r->logfd, F_SETFL, fl & ~O_APPEND) == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	r->capped = 1;
	/* A larger pipe: fewer wakeups, and a fast writer waits less. */
	(void)fcntl(p[0], F_SETPIPE_SZ, (int)RUN_CAP_CHUNK);
	r->pipefd = p[0];
	r->cap = (uint64_t)rs.conf->max_log_size;
	r->room = r->cap;
	r->woff = r->off;
	return p[1];
}

/*
 * Move what r wrote from its pipe into its log while it has room, and
 * into /dev/null after, at most max splices. Return CAP_*.
 */
static int
run_cap_drain(struct run *r, unsigned max)
{
	loff_t	 off;
	ssize_t	 n;

	while (max-- > 0) {
		if (r->room > 0) {
			off = (loff_t)r->woff;
			n = splice(r->pipefd, NULL, r->logfd, &off,
			    r->room < RUN_CAP_CHUNK ? r->room : RUN_CAP_CHUNK,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				r->woff += (uint64_t)n;
				r->room -= (uint64_t)n;
			}
		} else {
			n = splice(r->pipefd, NULL, rs.nullw, NULL,
			    RUN_CAP_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				r->dropped += (uint64_t)n;
		}
		if (n == 0)
			return CAP_END;
		if (n > 0 || errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return CAP_EMPTY;
		if (r->room == 0) {
			log_warn("job '%s': splice from its output",
			    r->job->name);
			return CAP_END;
		}
		/* The log cannot grow (a full disk): the rest is dropped. */
		log_warn("job '%s': splice into its log", r->job->name);
		r->room = 0;
	}
	return CAP_MORE;
}

/* r's pipe is readable: move a bounded burst, and let go of it at its end. */
static void
run_cap_readable(uv_poll_t *h, int status, int events)
{
	struct run	*r = h->data;

	if (status < 0 || run_cap_drain(r, RUN_CAP_BURST) == CAP_END)
		run_cap_close(r);
}

/* Stop reading r's pipe and close it (its log stays open for the marker). */
static void
run_cap_close(struct run *r)
{
	if (r->poll != NULL) {
		uv_poll_stop(r->poll);
		uv_close((uv_handle_t *)r->poll, retry_closed);
		r->poll = NULL;
	}
	if (r->pipefd != -1)
		close(r->pipefd);
	r->pipefd = -1;
}

/*
 * The attempt's main process is gone, and with it its group (or it never
 * started): take what is left in its pipe (a process that escaped the
 * group and writes later gets EPIPE), end its output with the count of
 * bytes dropped, and give its log O_APPEND back.
 */
static void
run_cap_finish(struct run *r)
{
	char		line[160], c = '\n';
	int		n, fl;

	if (!r->capped)
		return;
	r->capped = 0;
	if (r->pipefd != -1) {
		while (run_cap_drain(r, RUN_CAP_BURST) == CAP_MORE)
			continue;
		run_cap_close(r);
	}
	if (r->dropped > 0) {
		if (r->woff > r->off && pread(r->logfd, &c, 1,
		    (off_t)r->woff - 1) != 1)
			c = '\n';
		n = snprintf(line, sizeof line, "%sfiled: %llu bytes of output "
		    "dropped: this attempt wrote more than max_log_size (%llu)\n",
		    c == '\n' ? "" : "\n", (unsigned long long)r->dropped,
		    (unsigned long long)r->cap);
		if (pwrite(r->logfd, line, (size_t)n, (off_t)r->woff) != n)
			log_warn("job '%s': write to log", r->job->name);
		log_info("job '%s': %llu bytes of output dropped beyond "
		    "max_log_size", r->job->name,
		    (unsigned long long)r->dropped);
	}
	if ((fl = fcntl(r->logfd, F_GETFL)) == -1 ||
	    fcntl(r->logfd, F_SETFL, fl | O_APPEND) == -1)
		fatal("fcntl O_APPEND");
}

/* A timeout or kill-grace timer fired for a running attempt. */
static void
run_timer_fired(uv_timer_t *t)
{
	struct run	*r = t->data;
	double		 grace;

	if (r->exited)
		return;
	if (r->reason == REASON_NONE) {
		r->reason = REASON_TIMEOUT;
		log_info("job '%s': timed out after %g s", r->job->name,
		    run_setting(r->job, POL_TIMEOUT, rs.conf->timeout));
	}
	grace = run_setting(r->job, POL_KILL_GRACE, rs.conf->kill_grace);
	if (!r->termed && grace > 0) {
		kill(-r->pid, SIGTERM);
		r->termed = 1;
		uv_timer_start(t, run_timer_fired, (uint64_t)(grace * 1000), 0);
		return;
	}
	kill(-r->pid, SIGKILL);
	r->killed = 1;
}

/*
 * The journal refused the start of job's attempt: kill it, and let its
 * end go unrecorded, as its start was.
 */
void
run_unrecorded(struct job *job)
{
	struct run	*r = job->live != NULL ? job->live->run : NULL;

	if (r == NULL)
		return;
	r->reason = REASON_UNRECORDED;
	if (!r->exited && r->pid > 0) {
		kill(-r->pid, SIGKILL);
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
	struct run	*r = job->live != NULL ? job->live->run : NULL;

	if (r == NULL || r->exited || r->pid <= 0)
		return;
	r->reason = REASON_CANCEL;
	kill(-r->pid, SIGKILL);
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
	double		 grace;

	rs.stopping = 1;
	LIST_FOREACH(r, &rs.runs, entry) {
		if (r->exited || r->pid <= 0)
			continue;
		if (r->reason != REASON_CANCEL)
			r->reason = REASON_STOP;
		grace = run_setting(r->job, POL_KILL_GRACE,
		    rs.conf->kill_grace);
		if (hard || grace <= 0) {
			kill(-r->pid, SIGKILL);
			r->killed = 1;
			continue;
		}
		kill(-r->pid, SIGTERM);
		r->termed = 1;
		uv_timer_stop(&r->timer);
		uv_timer_start(&r->timer, run_timer_fired,
		    (uint64_t)(grace * 1000), 0);
	}
}

/*
 * SIGCHLD: reap the attempts whose main process exited. Each pid is
 * waited for by itself, so no other child of filed is reaped here. The
 * freed slots are filled before the ended attempts' bookkeeping is done,
 * so the next job does not wait for it.
 */
static void
run_sigchld(uv_signal_t *h, int signum)
{
	struct run	*r, *next;
	siginfo_t	 si;
	int		 st, n = 0;

	queue_cork(1);
	LIST_FOREACH(r, &rs.runs, entry) {
		if (r->pid <= 0 || r->exited)
			continue;
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)r->pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == -1 || si.si_pid == 0)
			continue;
		/*
		 * What is left of the group goes with it, killed while the
		 * main process is a zombie: its pid, the group's id, cannot
		 * have been given to anyone else yet.
		 */
		if (kill(-r->pid, SIGKILL) == 0)
			log_debug("job '%s': killed the rest of process "
			    "group %d", r->job->name, r->pid);
		if (waitpid(r->pid, &st, 0) != r->pid)
			continue;
		r->pid = 0;
		run_reaped(r, st);
		n++;
	}
	if (n > 0) {
		run_schedule();
		LIST_FOREACH_SAFE(r, &rs.runs, entry, next) {
			if (r->exited && !r->ended)
				run_ended(r);
		}
	}
	queue_cork(0);
}

/*
 * The main process of an attempt exited with wait status st (or it never
 * started): its slot is free.
 */
static void
run_reaped(struct run *r, int st)
{
	r->exited = 1;
	if (WIFSIGNALED(st))
		r->signal = WTERMSIG(st);
	else
		r->status = WEXITSTATUS(st);
	uv_timer_stop(&r->timer);
	rs.nrunning--;
}

/*
 * After an attempt's process: find where its output ends, then sync it
 * and decide where the job goes.
 */
static void
run_ended(struct run *r)
{
	struct attempt	*a = &r->a;
	struct stat	 sb;
	char		 c;

	r->ended = 1;
	run_cap_finish(r);
	/* The log's end and whether it ends a line (page cache, no I/O). */
	a->end = fstat(r->logfd, &sb) == 0 ? (uint64_t)sb.st_size : r->off;
	a->eol = 1;
	if (a->end > r->off && pread(r->logfd, &c, 1, (off_t)a->end - 1) == 1)
		a->eol = c == '\n';
	if (a->end <= r->off) {
		/* Nothing was written: nothing to make durable. */
		run_spare_give(r);
		run_decide(r);
		return;
	}
	r->fs.data = r;
	if (io_fs_fdatasync(rs.loop, &r->fs, r->logfd, run_synced) != 0)
		run_decide(r);
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
	run_decide(r);
}

/* The log's directory entry is on disk. */
static void
run_dir_synced(uv_fs_t *req)
{
	struct run	*r = req->data;

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

	if (queue_inflight(job) != 0 && !job->gone) {
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
		if (failures <= (unsigned)run_setting(job, POL_MAX_RETRIES,
		    (double)rs.conf->max_retries)) {
			next = JOB_PENDING;
			delay = run_setting(job, POL_BACKOFF_BASE,
			    rs.conf->backoff_base) *
			    pow(run_setting(job, POL_BACKOFF_MULT,
			    rs.conf->backoff_mult), failures);
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

	if (r->logfd != -1)
		close(r->logfd);
	LIST_REMOVE(r, entry);
	rs.nlive--;
	job->live->run = NULL;
	uv_close((uv_handle_t *)&r->timer, run_freed);
	queue_unref(job);
	run_schedule();
}

/* An attempt's timer is closed: free the attempt. */
static void
run_freed(uv_handle_t *h)
{
	free(h->data);
}

/*
 * After replay: attempts the journal says are running belong to a filed
 * that died. Kill what is left of them and of any attempt the journal
 * never heard of (orphan.c), record them as interrupted, and arm the
 * timers of jobs waiting to retry.
 */
void
run_recover(void)
{
	struct job	*job, *next;
	struct job_live	*l;
	struct orphan_hint *hints;
	struct attempt	 a;
	struct stat	 st;
	char		*path, c;
	size_t		 n;
	int		 fd;

	TAILQ_FOREACH(job, queue_dir_jobs(INO_PENDING), all) {
		if (job->state == JOB_PENDING && job->live->retry_at != 0)
			run_arm_retry(job);
	}
	/*
	 * Before anything starts: every process of this state directory's
	 * attempts, and the sessions of those the journal says are running
	 * in this boot. An attempt started in another boot left nothing
	 * running, and its pid may name anything now: it is never a hint.
	 * (A journal that does not say in which boot, from an older filed,
	 * leaves it to orphan_reap's checks of the start times.)
	 */
	n = 0;
	TAILQ_FOREACH(job, queue_dir_jobs(INO_ACTIVE), all)
		n++;
	hints = xcalloc(n, sizeof *hints);
	n = 0;
	TAILQ_FOREACH(job, queue_dir_jobs(INO_ACTIVE), all) {
		l = job->live;
		if (l->pid <= 0 || l->pst == 0 ||
		    queue_same_boot(job, orphan_boot_id()) == 0)
			continue;
		hints[n].id = job->id;
		hints[n].attempt = job->natt;
		hints[n].pid = l->pid;
		hints[n].pst = l->pst;
		n++;
	}
	orphan_reap(rs.mark, hints, n, orphan_same);
	free(hints);
	/* An active job has its live part. */
	TAILQ_FOREACH_SAFE(job, queue_dir_jobs(INO_ACTIVE), all, next) {
		memset(&a, 0, sizeof a);
		a.how = HOW_INTERRUPTED;
		a.eol = 1;
		a.end = job->att[job->natt - 1].off;
		path = run_log_path(job);
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
		/*
		 * Nothing starts before the interrupted jobs are back at the
		 * head of the queue, in the order they had started.
		 */
		if (queue_inflight(job) != 0) {
			rs.recovering++;
			queue_wait(job, run_recovered, NULL);
		}
	}
	/* Jobs a crash left waiting for one that will never complete. */
	queue_deps_fail();
}

/* An interrupted attempt is recorded; the last one lets jobs start. */
static void
run_recovered(void *arg)
{
	if (rs.recovering > 0 && --rs.recovering == 0)
		run_schedule();
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
	queue_live(job)->timer = t;
	wait = (job->live->retry_at - util_now()) / 1000000;
	uv_timer_start(t, retry_fired, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* A job's retry time has come. */
static void
retry_fired(uv_timer_t *t)
{
	struct job	*job = t->data;

	job->live->timer = NULL;
	uv_close((uv_handle_t *)t, retry_closed);
	queue_retry_due(job);
	queue_unref(job);
	run_schedule();
}

/* Free a retry timer, or another handle of its own allocation. */
static void
retry_closed(uv_handle_t *h)
{
	free(h);
}

/* Cancel a job's retry timer, if it has one. */
void
run_disarm_retry(struct job *job)
{
	uv_timer_t	*t = job->live != NULL ? job->live->timer : NULL;

	if (t == NULL)
		return;
	job->live->timer = NULL;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, retry_closed);
}

/* At shutdown: close the retry timers and what run_init opened. */
void
run_shutdown(void)
{
	struct job	*job;
	struct later	*l;

	TAILQ_FOREACH(job, queue_dir_jobs(INO_PENDING), all)
		run_disarm_retry(job);
	uv_timer_stop(&rs.blocked);
	while ((l = LIST_FIRST(&rs.laters)) != NULL) {
		LIST_REMOVE(l, entry);
		uv_timer_stop(&l->timer);
		uv_close((uv_handle_t *)&l->timer, retry_closed);
		l->drop(l->arg);
	}
	while (rs.nspares > 0)
		close(rs.spares[--rs.nspares].fd);
	close(rs.devnull);
	close(rs.nullw);
	close(rs.outslot);
	close(rs.memslot);
	posix_spawn_file_actions_destroy(&rs.fa);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
	if (rs.fadir_made)
		posix_spawn_file_actions_destroy(&rs.fadir);
	rs.fadir_made = 0;
#endif
	free(rs.env);
	rs.env = NULL;
	posix_spawnattr_destroy(&rs.attr);
	if (rs.logdirfd != -1)
		close(rs.logdirfd);
	rs.logdirfd = -1;
	free(rs.logdir);
	rs.logdir = NULL;
	free(rs.mark);
	rs.mark = NULL;
}

/* Delete the log of a job that is forgotten. */
void
run_log_removed(struct job *job)
{
	char	name[32];

	if (unlinkat(rs.logdirfd, run_log_name(job, name, sizeof name),
	    0) == -1 && errno != ENOENT)
		log_warn("job '%s': unlink %s/%s", job->name, rs.logdir, name);
}
