/*
 * main.c: options and defaults, and the dispatch of the binary's other
 * modes (--exec-as and --exec-nice here, --status to status.c); everything
 * else lives in
 * loop.c, so that every other object links into the unit tests.
 */

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

static void	usage(FILE *, int);
static void	exec_as(int, char **) __attribute__((noreturn));
static void	exec_in(const char *, char **) __attribute__((noreturn));
static void	exec_nice(int, char **) __attribute__((noreturn));
static char	*default_statedir(void);

/* Print the usage and exit. */
static void
usage(FILE *f, int status)
{
	fprintf(f,
	    "usage: filed [-s STATEDIR] [-c CONFIG] [-o FUSEOPT,...] [-f] [-d] "
	    "MOUNTPOINT\n"
	    "       filed --status [-n ROWS] [DIR] MOUNTPOINT\n"
	    "       filed --check [-s STATEDIR] [-c CONFIG]\n"
	    "       filed --help | --version\n"
	    "\n"
	    "  -s STATEDIR   where the state lives (default $FILED_STATE_DIR,\n"
	    "                /var/lib/filed for root, else\n"
	    "                $XDG_DATA_HOME/filed or ~/.local/share/filed)\n"
	    "  -c CONFIG     the settings file (default STATEDIR/filed.ini)\n"
	    "  -o OPTIONS    extra FUSE mount options\n"
	    "  -f            stay in the foreground (always the case)\n"
	    "  -d            debug logging\n");
	exit(status);
}

/* The state directory when -s is not given. */
static char *
default_statedir(void)
{
	const char	*s;

	if ((s = getenv("FILED_STATE_DIR")) != NULL && *s != '\0')
		return xstrdup(s);
	if (geteuid() == 0)
		return xstrdup("/var/lib/filed");
	if ((s = getenv("XDG_DATA_HOME")) != NULL && *s == '/')
		return xasprintf("%s/filed", s);
	if ((s = getenv("HOME")) != NULL && *s == '/')
		return xasprintf("%s/.local/share/filed", s);
	fatalx("no state directory: set -s, FILED_STATE_DIR or HOME");
}

/* Make the parent directories of path (mode 0700), like mkdir -p. */
static void
mkdir_parents(const char *path)
{
	char	*p, *s;

	p = xstrdup(path);
	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			fatal("mkdir %s", p);
		*s = '/';
	}
	free(p);
}

/*
 * Enter dir and run argv[0] with argv: the last step of the trampolines
 * below. PROGRAM is run with execv, not execvp: the interpreter of a #!
 * line is found as the kernel would find it, a relative path from the
 * working directory, never looked up on PATH. Errors go to the job's
 * output with status 127, in the words filed uses when posix_spawn
 * fails (run.c), as the job's FILED_JOB names it.
 */
static void
exec_in(const char *dir, char **argv)
{
	const char	*job = getenv("FILED_JOB");
	int		 entered;

	if ((entered = chdir(dir) == 0))
		execv(argv[0], argv);
	if (job != NULL)
		fprintf(stderr, "filed: cannot run job '%s': %s (working "
		    "directory %s)\n", job, strerror(errno), dir);
	else if (!entered)
		fprintf(stderr, "filed: cannot enter the working directory "
		    "%s: %s\n", dir, strerror(errno));
	else
		fprintf(stderr, "filed: cannot run %s: %s\n", argv[0],
		    strerror(errno));
	exit(127);
}

/*
 * filed --exec-as UID GID DIR PROGRAM [ARG...]: the first step of an
 * attempt with run_as = submitter, in the child that posix_spawn made.
 * Take on the job creator's identity as at(1) does (supplementary groups
 * from the group database, then gid, then uid, with HOME, USER, LOGNAME
 * and SHELL from passwd unless [env] set them) and exec the interpreter
 * in DIR, entered with the creator's rights; DIR "~" is the creator's
 * home (/ if passwd has no entry). libuv's own setuid option would drop
 * the supplementary groups. The job gets descriptors 0 to 3 and no more:
 * filed's own are close-on-exec, and so is anything an NSS module left
 * open in the look-ups here. Errors go to the job's output: status 126,
 * or 127 if DIR cannot be entered or PROGRAM cannot be run.
 */
static void
exec_as(int argc, char **argv)
{
	struct passwd	*pw;
	char		*end, *home = NULL;
	const char	*dir;
	uid_t		 uid;
	gid_t		 gid;

	if (argc < 6)
		goto usage;
	errno = 0;
	uid = (uid_t)strtoul(argv[2], &end, 10);
	if (errno != 0 || *end != '\0')
		goto usage;
	gid = (gid_t)strtoul(argv[3], &end, 10);
	if (errno != 0 || *end != '\0')
		goto usage;
	if ((pw = getpwuid(uid)) != NULL) {
		home = xstrdup(pw->pw_dir);
		if (setenv("HOME", pw->pw_dir, 0) == -1 ||
		    setenv("USER", pw->pw_name, 0) == -1 ||
		    setenv("LOGNAME", pw->pw_name, 0) == -1 ||
		    setenv("SHELL", pw->pw_shell, 0) == -1 ||
		    initgroups(pw->pw_name, gid) == -1)
			goto fail;
	} else if (setgroups(1, &gid) == -1)
		goto fail;
	if (setgid(gid) == -1 || setuid(uid) == -1)
		goto fail;
	if (uid != 0 && setuid(0) != -1) {
		errno = EPERM;
		goto fail;
	}
	util_cloexec_from(4);
	dir = argv[4];
	if (strcmp(dir, "~") == 0)
		dir = home != NULL ? home : "/";
	exec_in(dir, argv + 5);

fail:
	fprintf(stderr, "filed: cannot run as uid %lu gid %lu: %s\n",
	    (unsigned long)uid, (unsigned long)gid, strerror(errno));
	exit(126);
usage:
	fprintf(stderr, "filed: --exec-as UID GID DIR PROGRAM [ARG...]\n");
	exit(126);
}

/*
 * filed --exec-nice N PROGRAM [ARG...]: the first step of an attempt with
 * a niceness (user.filed.nice, or the setting nice), in the child that
 * posix_spawn made, which has no attribute for it: set the niceness to N
 * and exec PROGRAM (the interpreter, or filed --exec-as). A niceness that
 * filed runs above and may not lower (it is not root) stays as it is:
 * the job still runs. Errors go to the job's output, as for --exec-as.
 */
static void
exec_nice(int argc, char **argv)
{
	char	*end;
	long	 n;

	if (argc < 4)
		goto usage;
	errno = 0;
	n = strtol(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[2] || n < 0 || n > 19)
		goto usage;
	if (setpriority(PRIO_PROCESS, 0, (int)n) == -1 && errno != EACCES &&
	    errno != EPERM) {
		fprintf(stderr, "filed: cannot set niceness %ld: %s\n", n,
		    strerror(errno));
		exit(126);
	}
	execv(argv[3], argv + 3);
	fprintf(stderr, "filed: cannot run %s: %s\n", argv[3],
	    strerror(errno));
	exit(127);
usage:
	fprintf(stderr, "filed: --exec-nice 0..19 PROGRAM [ARG...]\n");
	exit(126);
}

/* Parse the command line, settle the state directory, and run. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	struct options	 opts;
	uint64_t	 nofile;
	int		 ch, fd;

	/* Descriptors 0-2 must exist before any state file is opened. */
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);

	/*
	 * The trampolines run in a job's child, where descriptor 3 is the
	 * script and the open-file limit is the daemon's: neither of the
	 * steps below is for them.
	 */
	if (argc > 1 && strcmp(argv[1], "--exec-as") == 0)
		exec_as(argc, argv);
	/* filed --exec-in DIR PROGRAM [ARG...], where libc cannot chdir. */
	if (argc > 3 && strcmp(argv[1], "--exec-in") == 0)
		exec_in(argv[2], argv + 3);
	if (argc > 1 && strcmp(argv[1], "--exec-nice") == 0)
		exec_nice(argc, argv);

	/*
	 * filed --status is a client of a mount (status.c), not a daemon.
	 * It is an option and not a word: "filed status" already means a
	 * daemon on the mount point ./status. It comes first, as --exec-as
	 * does, so that the daemon's options never mix with its own.
	 */
	if (argc > 1 && strcmp(argv[1], "--status") == 0)
		return status_main(argc - 1, argv + 1);

	/*
	 * filed --check reads a state directory and changes nothing: no
	 * lock, no mount, no log but its report on stdout.
	 */
	if (argc > 1 && strcmp(argv[1], "--check") == 0)
		return check_main(argc - 1, argv + 1, default_statedir);

	/* What filed was given, its jobs must not inherit (util.c). */
	util_cloexec_from(3);

	memset(&opts, 0, sizeof opts);
	while ((ch = getopt_long(argc, argv, "c:dfho:s:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.config = optarg;
			break;
		case 'd':
			opts.debug = 1;
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout, 0);
			break;
		case 'o':
			opts.fuseopts = optarg;
			break;
		case 's':
			opts.statedir = optarg;
			break;
		case 'V':
			printf("filed %s\n", FILED_VERSION);
			return 0;
		default:
			usage(stderr, 1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(stderr, 1);
	opts.mountpoint = argv[0];
	log_init(opts.debug);

	if (util_nofile_raise(&nofile) == -1)
		log_warn("cannot raise the open-file limit");
	else if (nofile == UINT64_MAX)
		log_debug("open-file limit: unlimited");
	else
		log_debug("open-file limit: %llu (jobs get %llu)",
		    (unsigned long long)nofile,
		    (unsigned long long)util_nofile_soft());

	opts.statedir = opts.statedir != NULL ? xstrdup(opts.statedir) :
	    default_statedir();
	mkdir_parents(opts.statedir);
	ch = loop_run(&opts);
	free(opts.statedir);
	return ch;
}
