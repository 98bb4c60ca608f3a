/*
 * spawn.c: the machine's limit for running `true` jobs.
 *
 *	spawn N WORKERS
 *
 * Runs /bin/sh -c true N times with posix_spawn, keeping WORKERS of them
 * running at once (waitpid for one, spawn the next), as a job runner that
 * does nothing else would. Prints "jobs/s seconds".
 */

#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

extern char **environ;

static void
one(void)
{
	char	*argv[] = { "/bin/sh", "-c", "true", NULL };
	pid_t	 pid;
	int	 r;

	if ((r = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ)) != 0)
		errno = r, err(1, "posix_spawn");
}

int
main(int argc, char **argv)
{
	long	n, w, started = 0, done = 0;
	double	t0, t1;
	int	status;

	if (argc != 3)
		errx(1, "usage: spawn N WORKERS");
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
