/*
 * loop.c: the startup order, the signals and the shutdown order.
 *
 * Startup: lock the state directory, load the settings, replay the journal
 * (which may cut a torn tail or refuse damage), clear a stale mount, mount,
 * then settle attempts left running by a filed that died and start jobs.
 * filed is ready when the mount is up.
 *
 * Shutdown (SIGTERM, SIGINT, or the mount taken away): nothing new starts;
 * running attempts get SIGTERM and, kill_grace seconds later, SIGKILL; each
 * is recorded as interrupted. Once no attempt is left, the journal is idle,
 * no request is parked and no settings change is queued, filed unmounts,
 * closes every handle and exits 0.
 * A second SIGTERM or SIGINT sends SIGKILL at once.
 */

#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

#define EXIT_TEMPFAIL	111
#define LAZY_MS		2	/* the most a lazy record waits */

static struct {
	uv_loop_t	*loop;
	struct options	*opts;
	struct conf	 conf;
	struct journal	*journal;
	char		*config_path;
	char		*mount_real;	/* the mount point, resolved */
	uv_signal_t	 sigterm;
	uv_signal_t	 sigint;
	uv_signal_t	 sighup;
	uv_timer_t	 stop_timer;
	uv_timer_t	 push;		/* pushes lazy journal records */
	int		 stopping;
	int		 lockfd;
} lp;

static void	loop_pool(uv_loop_t *);
static void	loop_pool_noop(uv_work_t *);
static void	loop_pool_done(uv_work_t *, int);
static void	loop_lock(const char *);
static int	loop_check_mountpoint(const char *);
static void	loop_apart(const struct options *);
static void	loop_signal(uv_signal_t *, int);
static void	loop_push_soon(void *);
static void	loop_push_fired(uv_timer_t *);
static void	loop_stop(int);
static void	loop_lost(void);
static void	loop_stop_check(uv_timer_t *);
static void	loop_close_walk(uv_handle_t *, void *);

/*
 * Take the lock on STATEDIR/lock, so that one filed owns a state directory.
 * flock, not fcntl locks: those drop when any descriptor of the file is
 * closed. The descriptor is close-on-exec, so jobs never inherit the lock.
 */
static void
loop_lock(const char *statedir)
{
	char	*path, pid[32];
	ssize_t	 n;
	int	 fd;

	path = xasprintf("%s/lock", statedir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatal("flock %s", path);
		n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		fatalx("%s is in use by another filed (pid %s)", statedir,
		    pid[0] != '\0' ? pid : "unknown");
	}
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid))
		log_warn("write %s", path);
	lp.lockfd = fd;
	free(path);
}

/*
 * Start libuv's thread pool (journal writes and syncs, settings saves,
 * compaction): one thread when filed may run on one CPU only, libuv's
 * default of 4 otherwise (on two CPUs, two threads cost 5-10 % of the
 * enqueue rate against four), unless UV_THREADPOOL_SIZE says otherwise.
 * So a one-CPU board has two threads in all. libuv reads the variable
 * when the pool starts, at the first work queued, which is queued here;
 * the variable is then taken back out of the environment, so that jobs
 * (a Node.js job, say) never inherit it from filed.
 */
static void
loop_pool(uv_loop_t *loop)
{
	static uv_work_t	 w;
	cpu_set_t		 set;
	char			 n[16];
	int			 threads = 4, mine = 0;

	if (getenv("UV_THREADPOOL_SIZE") == NULL) {
		if (sched_getaffinity(0, sizeof set, &set) == 0 &&
		    CPU_COUNT(&set) <= 1)
			threads = 1;
		snprintf(n, sizeof n, "%d", threads);
		if (setenv("UV_THREADPOOL_SIZE", n, 1) == -1)
			fatal("setenv");
		mine = 1;
	}
	if (uv_queue_work(loop, &w, loop_pool_noop, loop_pool_done) != 0)
		fatalx("cannot start the thread pool");
	if (mine) {
		unsetenv("UV_THREADPOOL_SIZE");
		log_debug("thread pool: %d threads", threads);
	}
}

/* The work that starts the pool: nothing. */
static void
loop_pool_noop(uv_work_t *w)
{
}

/* Its end, on the loop: nothing either. */
static void
loop_pool_done(uv_work_t *w, int status)
{
}

/*
 * Check the mount point: it must be a directory, not already a mount
 * point. A stale FUSE mount left by a filed that died (ENOTCONN) is
 * detached first. Returns 0, or an exit status.
 */
static int
loop_check_mountpoint(const char *mnt)
{
	struct stat	 st, up;
	char		*parent;
	pid_t		 pid;
	int		 status;

	if (stat(mnt, &st) == -1 && errno == ENOTCONN) {
		log_info("%s: clearing a stale mount", mnt);
		if (geteuid() == 0) {
			if (umount2(mnt, MNT_DETACH) == -1)
				log_warn("umount %s", mnt);
		} else if ((pid = fork()) == 0) {
			execlp("fusermount3", "fusermount3", "-u", "-z", "-q",
			    mnt, (char *)NULL);
			_exit(127);
		} else if (pid > 0)
			waitpid(pid, &status, 0);
	}
	if (stat(mnt, &st) == -1) {
		log_warn("%s", mnt);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: not a directory", mnt);
		return 1;
	}
	parent = xasprintf("%s/..", mnt);
	if (stat(parent, &up) == 0 && up.st_dev != st.st_dev) {
		log_warnx("%s is already a mount point", mnt);
		free(parent);
		return EXIT_TEMPFAIL;
	}
	free(parent);
	return 0;
}

/*
 * The state directory and a settings file given with -c must not be
 * inside the mount point: once the mount is up, their paths lead into
 * filed's own mount, and filed, opening them, would wait on itself.
 */
static void
loop_apart(const struct options *opts)
{
	char	*mnt;

	/* A stale mount there is cleared later: its path counts all the same. */
	if ((mnt = util_resolve(opts->mountpoint)) == NULL)
		return;		/* loop_check_mountpoint says why */
	if (util_path_under(opts->statedir, mnt))
		fatalx("the state directory %s is inside the mount point %s",
		    opts->statedir, opts->mountpoint);
	if (opts->config != NULL && util_path_under(opts->config, mnt))
		fatalx("the settings file %s is inside the mount point %s",
		    opts->config, opts->mountpoint);
	free(mnt);
}

/*
 * SIGTERM, SIGINT: stop; SIGHUP: reload the settings, in turn with the
 * writes to config.json (config.c).
 */
static void
loop_signal(uv_signal_t *h, int signum)
{
	if (signum != SIGHUP) {
		log_info("%s: stopping", strsignal(signum));
		loop_stop(lp.stopping);
		return;
	}
	config_reload();
}

/*
 * Only records nobody waits for are queued: push them out in LAZY_MS, with
 * whatever joins them meanwhile.
 */
static void
loop_push_soon(void *arg)
{
	if (!uv_is_active((uv_handle_t *)&lp.push))
		uv_timer_start(&lp.push, loop_push_fired, LAZY_MS, 0);
}

/* The lazy records' moment is over. */
static void
loop_push_fired(uv_timer_t *t)
{
	journal_push(lp.journal);
}

/* Begin the shutdown; hard sends SIGKILL to the jobs at once. */
static void
loop_stop(int hard)
{
	run_stop_all(hard);
	if (lp.stopping)
		return;
	lp.stopping = 1;
	retain_stop();
	notify_stopping();
	fsops_stopping();
	uv_timer_start(&lp.stop_timer, loop_stop_check, 0, 20);
}

/* The mount went away from outside: stop as for SIGTERM. */
static void
loop_lost(void)
{
	loop_stop(0);
}

/*
 * Finish the shutdown once every attempt, commit and settings change is
 * done.
 */
static void
loop_stop_check(uv_timer_t *t)
{
	if (run_count() != 0 || !journal_idle(lp.journal) ||
	    fsops_parked() != 0 || config_busy())
		return;
	uv_timer_stop(t);
	/*
	 * Only now, with every commit done, is it known which jobs being
	 * written were saved (a save at a close of a duplicate may have been
	 * in flight when the stop began).
	 */
	queue_log_unreleased();
	fuse_uv_stop();
	run_shutdown();
	uv_walk(lp.loop, loop_close_walk, NULL);
}

/* Close a handle at shutdown. */
static void
loop_close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Run filed with opts; returns the exit status. */
int
loop_run(struct options *opts)
{
	char	*path, *cause = NULL;
	size_t	 max_line;
	int	 rv;

	memset(&lp, 0, sizeof lp);
	lp.opts = opts;
	signal(SIGPIPE, SIG_IGN);
#ifdef M_MMAP_THRESHOLD
	/*
	 * Large buffers (the listing of a big directory, the journal's) are
	 * mapped and unmapped, never left in the heap: glibc would otherwise
	 * raise its threshold at the first such free and keep the memory of
	 * the next ones for good.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif

	loop_apart(opts);
	if (mkdir(opts->statedir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", opts->statedir);
	if (access(opts->statedir, R_OK | W_OK | X_OK) == -1)
		fatal("%s", opts->statedir);
	loop_lock(opts->statedir);
	space_init(opts->statedir);

	lp.config_path = opts->config != NULL ? xstrdup(opts->config) :
	    xasprintf("%s/filed.ini", opts->statedir);
	/* Before the mount is up: resolving it later could wait on filed. */
	if ((lp.mount_real = util_resolve(opts->mountpoint)) != NULL)
		conf_set_mount(lp.mount_real);
	if (conf_load(lp.config_path, &lp.conf, &cause) != 0)
		fatalx("%s", cause);

	max_line = JOURNAL_MAX_LINE;
	queue_init(max_line);
	path = xasprintf("%s/journal", opts->statedir);
	lp.journal = journal_open(path, max_line, queue_replay, NULL, &cause);
	if (lp.journal == NULL)
		fatalx("%s", cause);
	free(path);
	queue_set_journal(lp.journal);
	space_adjust(queue_unfinished());

	if ((rv = loop_check_mountpoint(opts->mountpoint)) != 0)
		return rv;

	lp.loop = uv_default_loop();
	loop_pool(lp.loop);
	notify_init(lp.loop, opts->mountpoint);
	journal_attach(lp.journal, lp.loop);
	journal_set_snapshot(lp.journal, queue_snapshot, NULL);
	uv_timer_init(lp.loop, &lp.push);
	journal_set_lazy(lp.journal, loop_push_soon, NULL);
	queue_keep_unreleased();
	queue_boot_start(orphan_boot_id());
	stats_init(&lp.conf, lp.journal);
	run_init(lp.loop, opts->statedir, &lp.conf);
	config_init(lp.loop, &lp.conf, lp.config_path);
	fsops_init(lp.loop, opts->statedir, &lp.conf);
	if (fuse_uv_start(lp.loop, opts->mountpoint, opts->fuseopts,
	    loop_lost) != 0)
		return EXIT_TEMPFAIL;
	if (lp.mount_real == NULL || interp_set_mount(lp.mount_real) != 0)
		log_warnx("%s is not in /proc/self/mountinfo: a job's #! "
		    "interpreter is not checked against the mount",
		    opts->mountpoint);
	log_info("serving %s on %s", opts->statedir, opts->mountpoint);

	uv_signal_init(lp.loop, &lp.sigterm);
	uv_signal_start(&lp.sigterm, loop_signal, SIGTERM);
	uv_signal_init(lp.loop, &lp.sigint);
	uv_signal_start(&lp.sigint, loop_signal, SIGINT);
	uv_signal_init(lp.loop, &lp.sighup);
	uv_signal_start(&lp.sighup, loop_signal, SIGHUP);
	uv_timer_init(lp.loop, &lp.stop_timer);

	run_recover();
	run_schedule();
	retain_init(lp.loop, &lp.conf);
	notify_ready();
	uv_run(lp.loop, UV_RUN_DEFAULT);

	if (uv_loop_close(lp.loop) != 0)
		log_warnx("some handles were still open at exit");
	journal_close(lp.journal);
	fsops_free();
	queue_free();
	config_free();
	notify_free();
	conf_set_mount(NULL);
	interp_set_mount(NULL);
	space_free();
	free(lp.config_path);
	free(lp.mount_real);
	close(lp.lockfd);
	log_info("stopped");
	return 0;
}
