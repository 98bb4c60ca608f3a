/*
 * unit-orphan.c: orphan_reap on real processes. The test starts /bin/sleep
 * children with and without the mark of a temporary directory, in new
 * sessions or in its own, some with a child of their own whose environment
 * is empty, some whose first process is gone; then it reaps and checks
 * that exactly the marked processes, their sessions and the sessions the
 * hints name are gone, and every other process is alive. A second mark
 * checks, in a reaper started as a child, that the reaper, its session and
 * its parent are never killed. The test is a child subreaper, so every
 * process it started is its to reap at the end.
 */

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"
#include "tap.h"

#define SLEEP	"/bin/sleep"

/* A process started by start(), and the child it started in its session. */
struct kid {
	pid_t		 pid;
	pid_t		 sub;
	uint64_t	 pst;		/* clock ticks since boot, after fork */
};

static uint64_t	 hz(void);
static uint64_t	 starttime(pid_t);
static int	 alive(pid_t);
static void	 wait_ticks(uint64_t);
static void	 start(struct kid *, const char *, int, int, int);
static int	 reap_mode(const char *);
static int	 parent_mode(const char *);
static void	 test_mark(const char *);
static void	 test_boot_id(void);
static void	 test_reap(const char *);
static void	 test_spared(const char *);

/* Clock ticks a second, as /proc counts start times. */
static uint64_t
hz(void)
{
	long	n = sysconf(_SC_CLK_TCK);

	return n > 0 ? (uint64_t)n : 100;
}

/* A process's start time from /proc/PID/stat, or 0. */
static uint64_t
starttime(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 v = 0;
	FILE			*f;
	size_t			 n;
	int			 i;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

/* The process exists and is not a zombie. */
static int
alive(pid_t pid)
{
	char	 path[64], buf[1024], *p;
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

/* Poll until the boot clock has reached t. */
static void
wait_ticks(uint64_t t)
{
	struct timespec	ts = { 0, 5000000 };

	while (orphan_ticks() < t)
		nanosleep(&ts, NULL);
}

/*
 * Start /bin/sleep 1000 with FILED_RUN=run in its environment (none if
 * run is NULL), in a new session if newsid. If sub, it first starts a
 * child of its own, a sleep with an empty environment that stays in its
 * session; if leave, it then exits instead (and is reaped here), leaving
 * that child alone in the session. Returns once every exec is done.
 */
static void
start(struct kid *k, const char *run, int newsid, int sub, int leave)
{
	char	*argv[] = { "sleep", "1000", NULL };
	char	*none[] = { NULL }, *env[2] = { NULL, NULL }, *var = NULL;
	pid_t	 g;
	int	 p[2];
	char	 c;

	memset(k, 0, sizeof *k);
	if (run != NULL)
		env[0] = var = xasprintf("FILED_RUN=%s", run);
	if (pipe2(p, O_CLOEXEC) == -1) {
		perror("unit-orphan: pipe2");
		exit(99);
	}
	fflush(stdout);
	if ((k->pid = fork()) == -1) {
		perror("unit-orphan: fork");
		exit(99);
	}
	if (k->pid == 0) {
		close(p[0]);
		if (newsid && setsid() == -1)
			_exit(126);
		if (sub) {
			if ((g = fork()) == 0) {
				execve(SLEEP, argv, none);
				_exit(127);
			}
			if (write(p[1], &g, sizeof g) != sizeof g)
				_exit(126);
		}
		if (leave)
			_exit(0);
		execve(SLEEP, argv, env);
		_exit(127);
	}
	k->pst = orphan_ticks();
	close(p[1]);
	if (sub && read(p[0], &k->sub, sizeof k->sub) != sizeof k->sub)
		k->sub = 0;
	/* The pipe is close-on-exec: it ends when every exec is done. */
	while (read(p[0], &c, 1) > 0)
		;
	close(p[0]);
	if (leave)
		waitpid(k->pid, NULL, 0);
	free(var);
}

/* The reaper of test_spared: reap, and print how many were killed. */
static int
reap_mode(const char *mark)
{
	printf("%u\n", orphan_reap(mark, NULL, 0, orphan_same));
	return 0;
}

/*
 * The parent of test_spared's reaper, marked like it: start the reaper in
 * a new session, wait for it, then sleep with stdout closed.
 */
static int
parent_mode(const char *mark)
{
	char	*argv[] = { "unit-orphan", "--reap", NULL, NULL };
	char	*sargv[] = { "sleep", "1000", NULL };
	char	*env[] = { NULL, NULL };
	pid_t	 pid;
	int	 fd;

	argv[2] = (char *)mark;
	env[0] = xasprintf("FILED_RUN=%s/6/1", mark);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		if (setsid() == -1)
			_exit(126);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	free(env[0]);
	if (pid == -1 || waitpid(pid, NULL, 0) != pid)
		return 1;
	if ((fd = open("/dev/null", O_WRONLY)) == -1 || dup2(fd, 1) == -1)
		return 1;
	close(fd);
	execve(SLEEP, sargv, environ);
	return 1;
}

/* The mark is the directory's device and inode, in hex. */
static void
test_mark(const char *dir)
{
	struct stat	 sb;
	char		*mark, *want;

	if (stat(dir, &sb) == -1) {
		perror(dir);
		exit(99);
	}
	mark = orphan_mark(dir);
	want = xasprintf("%llx-%llx", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	is_str(mark, want, "orphan_mark gives the device and inode in hex");
	free(want);
	free(mark);
}

/* The boot id is /proc's, without the newline, read once. */
static void
test_boot_id(void)
{
	char	 buf[64];
	FILE	*f;
	size_t	 n = 0;

	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	is_str(orphan_boot_id(), buf, "orphan_boot_id is /proc's boot_id");
	ok(strlen(orphan_boot_id()) == 36, "a boot id is a UUID");
	ok(orphan_boot_id() == orphan_boot_id(), "it is read once");
}

/* Exactly the marked processes, their sessions and the hinted ones go. */
static void
test_reap(const char *mark)
{
	struct orphan_hint	 h[5];
	struct kid		 a, b, c, d, e, f, g, hh, i, j, k;
	char			*run;
	unsigned		 n;
	int			 st;

	run = xasprintf("%s/1/1", mark);
	start(&a, run, 1, 0, 0);	/* marked, own session */
	free(run);
	run = xasprintf("%s/2/1", mark);
	start(&b, run, 1, 1, 0);	/* marked, env -i child in session */
	free(run);
	start(&c, NULL, 1, 0, 0);	/* not marked */
	start(&d, "0-0/3/1", 1, 0, 0);	/* another state directory's */
	run = xasprintf("%s0/4/1", mark);
	start(&e, run, 1, 0, 0);	/* a mark the real one is a prefix of */
	free(run);
	run = xasprintf("%s/5/1", mark);
	start(&f, run, 0, 0, 0);	/* marked, in the reaper's session */
	free(run);
	start(&g, NULL, 1, 1, 0);	/* hinted, its start right */
	start(&hh, NULL, 1, 0, 0);	/* hinted, its start wrong: reused */
	start(&i, NULL, 1, 1, 1);	/* hinted, gone, its session left */
	start(&j, NULL, 1, 1, 1);	/* the same, the session older */
	start(&k, NULL, 1, 1, 1);	/* the same, a start in the future */

	ok(a.pid > 0 && alive(a.pid) && alive(b.pid) && alive(b.sub) &&
	    alive(c.pid) && alive(d.pid) && alive(e.pid) && alive(f.pid) &&
	    alive(g.pid) && alive(g.sub) && alive(hh.pid) && !alive(i.pid) &&
	    alive(i.sub) && !alive(j.pid) && alive(j.sub) && alive(k.sub),
	    "every process started");

	memset(h, 0, sizeof h);
	h[0].id = 7;
	h[0].attempt = 1;
	h[0].pid = g.pid;
	h[0].pst = starttime(g.pid);
	h[1].id = 8;
	h[1].attempt = 2;
	h[1].pid = hh.pid;
	h[1].pst = starttime(hh.pid) + hz() / 5;
	h[2].id = 9;
	h[2].attempt = 1;
	h[2].pid = i.pid;
	h[2].pst = i.pst;
	h[3].id = 10;
	h[3].attempt = 1;
	h[3].pid = j.pid;
	h[3].pst = starttime(j.sub) + hz() / 5;
	h[4].id = 11;
	h[4].attempt = 1;
	h[4].pid = k.pid;
	h[4].pst = orphan_ticks() + 1000 * hz();
	wait_ticks(h[1].pst > h[3].pst ? h[1].pst : h[3].pst);

	n = orphan_reap(mark, h, 5, orphan_same);
	is_int(n, 6, "six processes killed");
	ok(!alive(a.pid), "a marked process is killed");
	ok(!alive(b.pid), "so is another");
	ok(!alive(b.sub), "and its child with an empty environment, "
	    "in its session");
	ok(alive(c.pid), "a process without the mark lives");
	ok(alive(d.pid), "a process marked for another directory lives");
	ok(alive(e.pid), "a mark the real one is a prefix of is another");
	ok(alive(f.pid), "a marked process in the reaper's session lives");
	ok(!alive(g.pid) && !alive(g.sub),
	    "a hinted attempt still running is killed, with its session");
	ok(alive(hh.pid), "a hinted pid that started at another time lives");
	ok(!alive(i.sub), "what is left in the session of a hinted attempt "
	    "whose main process is gone is killed");
	ok(alive(j.sub), "but not a session older than the attempt");
	ok(alive(k.sub), "nor for a hint whose start is in the future");
	is_int(orphan_reap(mark, h, 5, orphan_same), 0,
	    "a second reap finds nothing");

	kill(c.pid, SIGKILL);
	kill(d.pid, SIGKILL);
	kill(e.pid, SIGKILL);
	kill(f.pid, SIGKILL);
	kill(hh.pid, SIGKILL);
	kill(j.sub, SIGKILL);
	kill(k.sub, SIGKILL);
	while (waitpid(-1, &st, 0) > 0)
		;
}

/*
 * A reaper carrying the mark, whose parent carries it too in another
 * session, kills neither itself nor its parent, and does kill the rest.
 */
static void
test_spared(const char *mark)
{
	char	*argv[] = { "unit-orphan", "--parent", NULL, NULL };
	char	*env[] = { NULL, NULL }, *run, buf[64];
	struct kid r;
	ssize_t	 n;
	size_t	 len = 0;
	pid_t	 p;
	int	 fds[2], st;

	run = xasprintf("%s/7/1", mark);
	start(&r, run, 1, 0, 0);
	free(run);
	if (pipe(fds) == -1) {
		perror("unit-orphan: pipe");
		exit(99);
	}
	argv[2] = (char *)mark;
	env[0] = xasprintf("FILED_RUN=%s/5/1", mark);
	fflush(stdout);
	if ((p = fork()) == 0) {
		close(fds[0]);
		if (setsid() == -1 || dup2(fds[1], 1) == -1)
			_exit(126);
		close(fds[1]);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	free(env[0]);
	close(fds[1]);
	while (len < sizeof buf - 1 &&
	    (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	buf[len] = '\0';
	is_str(buf, "1\n", "the reaper killed one process");
	ok(!alive(r.pid), "the marked process in another session");
	ok(p > 0 && alive(p), "not its marked parent");
	kill(p, SIGKILL);
	while (waitpid(-1, &st, 0) > 0)
		;
}

int
main(int argc, char **argv)
{
	char	 dir[] = "/tmp/unit-orphan.XXXXXX";
	char	 dir2[] = "/tmp/unit-orphan.XXXXXX";
	char	*mark;

	if (argc == 3 && strcmp(argv[1], "--reap") == 0)
		return reap_mode(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--parent") == 0)
		return parent_mode(argv[2]);

	log_init(0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		/* Linux has it since 3.4; qemu-user does not emulate it. */
		if (errno == EINVAL) {
			printf("1..0 # SKIP PR_SET_CHILD_SUBREAPER is not "
			    "supported here\n");
			return 0;
		}
		perror("unit-orphan: PR_SET_CHILD_SUBREAPER");
		return 99;
	}
	if (mkdtemp(dir) == NULL || mkdtemp(dir2) == NULL) {
		perror("unit-orphan: mkdtemp");
		return 99;
	}
	test_mark(dir);
	test_boot_id();

	mark = orphan_mark(dir);
	test_reap(mark);
	free(mark);

	mark = orphan_mark(dir2);
	test_spared(mark);
	free(mark);

	rmdir(dir);
	rmdir(dir2);
	return tap_done();
}
