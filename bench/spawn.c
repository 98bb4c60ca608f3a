/*
 * spawn.c: the machine's limit for running `true` jobs.
 *
 *	spawn N WORKERS [script]
 *
 * Runs /bin/sh -c true N times with posix_spawn, keeping WORKERS of them
 * running at once (waitpid for one, spawn the next), as a job runner that
 * does nothing else would. Prints "jobs/s seconds". With "script", runs
 * /bin/sh /dev/fd/3 instead, the text "true\n" in a memfd on fd 3, the way
 * filed hands a job its script: the most a runner that does so can reach.
 */

#include <sys/mman.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
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

int
main(int argc, char **argv)
{
	long	n, w, started = 0, done = 0;
	double	t0, t1;
	int	status;

	if (argc == 4 && strcmp(argv[3], "script") == 0)
		script = 1;
	else if (argc != 3)
		errx(1, "usage: spawn N WORKERS [script]");
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
