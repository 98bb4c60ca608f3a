/*
 * spawn.c: the machine's limit for running `true` jobs.
 *
 *	spawn N WORKERS [script]
 *	spawn --exec N PROGRAM FIFO
 *
 * Runs /bin/sh -c true N times with posix_spawn, keeping WORKERS of them
 * running at once (waitpid for one, spawn the next), as a job runner that
 * does nothing else would. Prints "jobs/s seconds". With "script", runs
 * /bin/sh /dev/fd/3 instead, the text "true\n" in a memfd on fd 3, the way
 * filed hands a #! job its script: the most a runner that does so can reach.
 *
 * With --exec, runs "PROGRAM --stamp /dev/fd/3" N times, one at a time and
 * 20 ms apart, in a session of its own as filed runs a job, with
 * BENCH_FIFO=FIFO: PROGRAM being bench/enq, its first instruction writes
 * the time into FIFO. Prints the p50 and p99 in ms from just before
 * posix_spawn to that time: the least any runner can add to close() ->
 * first instruction (bench/enq --latency) with an exec per job.
 */

#include <sys/mman.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

static int	script;

/* Start one child. */
static void
one(void)
{
	char				*argv[] = { "/bin/sh", "-c", "true", NULL };
	char				*sargv[] = { "/bin/sh", "/dev/fd/3", NULL };
	posix_spawn_file_actions_t	 fa;
	pid_t				 pid;
	int				 r, fd = -1;

	posix_spawn_file_actions_init(&fa);
	if (script) {
		if ((fd = memfd_create("job", MFD_CLOEXEC)) == -1 ||
		    write(fd, "true\n", 5) != 5)
			err(1, "memfd");
		posix_spawn_file_actions_adddup2(&fa, fd, 3);
	}
	r = posix_spawn(&pid, "/bin/sh", &fa, NULL, script ? sargv : argv,
	    environ);
	if (r != 0)
		errno = r, err(1, "posix_spawn");
	posix_spawn_file_actions_destroy(&fa);
	if (fd != -1)
		close(fd);
}

/* spawn --exec N PROGRAM FIFO: posix_spawn -> the child's first stamp. */
static int
exec_latency(long n, char *prog, char *fifo)
{
	char			*argv[] = { prog, "--stamp", "/dev/fd/3", NULL };
	char			 line[64];
	posix_spawnattr_t	 attr;
	double			*lat, t0;
	ssize_t			 len;
	pid_t			 pid;
	long			 i;
	int			 fd, r, status;

	if (setenv("BENCH_FIFO", fifo, 1) == -1)
		err(1, "setenv");
	/* O_RDWR: the open does not wait for a writer. */
	if ((fd = open(fifo, O_RDWR)) == -1)
		err(1, "%s", fifo);
	if ((lat = calloc(n, sizeof *lat)) == NULL)
		err(1, "calloc");
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	for (i = 0; i < n; i++) {
		usleep(20000);
		t0 = now();
		r = posix_spawn(&pid, prog, NULL, &attr, argv, environ);
		if (r != 0)
			errno = r, err(1, "posix_spawn %s", prog);
		if ((len = read(fd, line, sizeof line - 1)) <= 0)
			err(1, "read %s", fifo);
		line[len] = '\0';
		lat[i] = (strtod(line, NULL) - t0) * 1000;
		if (waitpid(pid, &status, 0) == -1)
			err(1, "waitpid");
	}
	qsort(lat, n, sizeof *lat, cmp);
	printf("%.3f %.3f\n", lat[n / 2], lat[n * 99 / 100]);
	posix_spawnattr_destroy(&attr);
	free(lat);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	long	n, w, started = 0, done = 0;
	double	t0, t1;
	int	status;

	if (argc == 5 && strcmp(argv[1], "--exec") == 0) {
		if ((n = atol(argv[2])) < 1)
			errx(1, "N must be positive");
		return exec_latency(n, argv[3], argv[4]);
	}
	if (argc == 4 && strcmp(argv[3], "script") == 0)
		script = 1;
	else if (argc != 3)
		errx(1, "usage: spawn N WORKERS [script] | "
		    "spawn --exec N PROGRAM FIFO");
	n = atol(argv[1]);
	w = atol(argv[2]);
	if (n < 1 || w < 1)
		errx(1, "N and WORKERS must be positive");
	t0 = now();
	while (started < w && started < n) {
		one();
		started++;
	}
	while (done < n) {
		if (waitpid(-1, &status, 0) == -1)
			err(1, "waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			errx(1, "a child failed");
		done++;
		if (started < n) {
			one();
			started++;
		}
	}
	t1 = now();
	printf("%.1f %.4f\n", n / (t1 - t0), t1 - t0);
	return 0;
}
