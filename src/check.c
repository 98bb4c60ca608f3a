/*
 * check.c: filed --check [-s STATEDIR] [-c CONFIG], a read-only look at a
 * state directory, for backup scripts and monitoring.
 *
 * It replays the journal as a start would (journal_check: nothing is
 * created, cut, upgraded or removed, and the lock is not taken), reads the
 * settings file, and compares the output files with what the journal says
 * each job's attempts wrote. It prints what it found and exits 0 when a
 * filed could start on the directory and lose nothing, 1 on damage: a
 * journal damaged before its end, a record refused, an unreadable or
 * invalid settings file, an output file shorter than its journal says.
 *
 * Beside a running filed the journal and the output files change while
 * they are read. A torn last record is then normal (it is being written),
 * and is reported, not damage. A difference between the output files and
 * the journal is damage only if the journal did not change while they
 * were compared; otherwise the check runs again (a few times), as the
 * difference may be a job removed in between.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

#define CHECK_TRIES	5	/* runs while the journal keeps changing */

/* What one look at the output files found. */
struct check_out {
	uint64_t	 files;		/* output files of jobs */
	uint64_t	 bytes;		/* their sizes */
	uint64_t	 extra;		/* of no job: the next start removes them */
	uint64_t	 missing;	/* shorter than the journal says */
	char		 first[256];	/* the first of those, described */
};

static void	check_usage(void) __attribute__((noreturn));
static uint64_t	check_expected(const struct job *);
static int	check_outputs(const char *, struct check_out *);
static int	check_same_journal(const char *, const struct journal_check *);

/* Print the usage of --check and exit 1. */
static void
check_usage(void)
{
	fprintf(stderr, "usage: filed --check [-s STATEDIR] [-c CONFIG]\n");
	exit(1);
}

/*
 * The bytes job's output file must hold at least: where its last attempt
 * ended, or, if the journal has no end for it (running, or stopped by a
 * crash), where it began.
 */
static uint64_t
check_expected(const struct job *job)
{
	struct attempt	a;

	if (job->natt == 0 || queue_attempt(job, job->natt, &a) != 0)
		return 0;
	return a.end != ATTEMPT_OPEN ? a.end : a.off;
}

/*
 * Compare STATEDIR/output with the jobs replayed: count the files, those
 * of no job, and the jobs whose file is shorter than their journal says.
 * Return 0, or -1 if the directory cannot be read.
 */
static int
check_outputs(const char *dir, struct check_out *co)
{
	static const uint64_t dirs[] = {
		INO_PENDING, INO_ACTIVE, INO_FAILED, INO_COMPLETE
	};
	struct dirent	*de;
	struct stat	 st;
	struct job	*job;
	uint64_t	 id, want, have;
	char		*end, path[64];
	size_t		 i;
	DIR		*d;
	int		 dfd, ddup;

	memset(co, 0, sizeof *co);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 && errno != ENOENT) {
		fprintf(stderr, "filed: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	/* No output directory: no job has written anything yet. */
	if (dfd != -1) {
		if ((ddup = dup(dfd)) == -1 || (d = fdopendir(ddup)) == NULL) {
			fprintf(stderr, "filed: %s: %s\n", dir,
			    strerror(errno));
			if (ddup != -1)
				close(ddup);
			close(dfd);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;	/* ., .., and the spares */
			errno = 0;
			id = strtoull(de->d_name, &end, 10);
			if (errno != 0 || *end != '\0' ||
			    queue_by_id(id) == NULL) {
				co->extra++;
				continue;
			}
			co->files++;
			if (fstatat(dfd, de->d_name, &st, 0) == 0)
				co->bytes += (uint64_t)st.st_size;
		}
		closedir(d);
	}

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		TAILQ_FOREACH(job, queue_dir_jobs(dirs[i]), all) {
			if ((want = check_expected(job)) == 0)
				continue;
			snprintf(path, sizeof path, "%" PRIu64, job->id);
			have = 0;
			if (dfd != -1 && fstatat(dfd, path, &st, 0) == 0)
				have = (uint64_t)st.st_size;
			if (have >= want)
				continue;
			if (co->missing++ == 0)
				snprintf(co->first, sizeof co->first,
				    "%s/%s (job %s): %" PRIu64 " bytes, the "
				    "journal says %" PRIu64, dir, path,
				    job->name, have, want);
		}
	}
	if (dfd != -1)
		close(dfd);
	return 0;
}

/* Is the journal at path still the file and the size that jc read? */
static int
check_same_journal(const char *path, const struct journal_check *jc)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return jc->fresh && errno == ENOENT;
	return (uint64_t)st.st_dev == jc->dev &&
	    (uint64_t)st.st_ino == jc->ino &&
	    (uint64_t)st.st_size == jc->size + jc->torn_bytes;
}

/* filed --check: look at a state directory; exit 0 if sound, 1 if not. */
int
check_main(int argc, char **argv, char *(*defdir)(void))
{
	struct journal_check	 jc;
	struct check_out	 co;
	struct conf		 conf;
	char			*statedir = NULL, *journal, *outdir;
	char			*config = NULL, *cause;
	int			 ch, try, damaged = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:s:")) != -1) {
		switch (ch) {
		case 'c':
			config = xstrdup(optarg);
			break;
		case 's':
			free(statedir);
			statedir = xstrdup(optarg);
			break;
		default:
			check_usage();
		}
	}
	if (optind != argc)
		check_usage();
	if (statedir == NULL)
		statedir = defdir();
	if (access(statedir, R_OK | X_OK) == -1) {
		printf("%s: %s\ndamaged\n", statedir, strerror(errno));
		free(statedir);
		free(config);
		return 1;
	}
	journal = xasprintf("%s/journal", statedir);
	outdir = xasprintf("%s/output", statedir);
	if (config == NULL)
		config = xasprintf("%s/filed.ini", statedir);
	printf("state: %s\n", statedir);

	/* conf_load would create a missing file: never write here. */
	if (access(config, F_OK) == -1 && errno == ENOENT)
		printf("settings: %s: none (the defaults; a start creates "
		    "it)\n", config);
	else if (conf_load(config, &conf, &cause) != 0) {
		printf("settings: %s\n", cause);
		free(cause);
		damaged = 1;
	} else
		printf("settings: %s: valid\n", config);

	memset(&co, 0, sizeof co);
	for (try = 1;; try++) {
		queue_init(JOURNAL_MAX_LINE);
		if (journal_check(journal, queue_max_line(), queue_replay,
		    NULL, &jc, &cause) != 0) {
			printf("journal: %s\n", cause);
			free(cause);
			queue_free();
			damaged = 1;
			goto done;
		}
		if (check_outputs(outdir, &co) != 0) {
			queue_free();
			damaged = 1;
			goto done;
		}
		if (co.missing == 0 || try == CHECK_TRIES ||
		    check_same_journal(journal, &jc))
			break;
		queue_free();
	}

	if (jc.fresh)
		printf("journal: %s: none yet (a start creates it)\n",
		    journal);
	else
		printf("journal: %s: %" PRIu64 " bytes, %" PRIu64 " records, "
		    "format version %d\n", journal, jc.size, jc.records,
		    jc.version);
	if (jc.torn_bytes != 0)
		printf("journal: a partial last record (%" PRIu64 " bytes at "
		    "offset %" PRIu64 ": %s): being written by a running "
		    "filed, or left by a crash and cut at the next start\n",
		    jc.torn_bytes, jc.torn_off, jc.torn_why);
	printf("jobs: %" PRIu64 " pending, %" PRIu64 " active, %" PRIu64
	    " failed, %" PRIu64 " complete, %" PRIu64 " drafts, %" PRIu64
	    " being written\n",
	    queue_count_state(JOB_PENDING), queue_count_state(JOB_ACTIVE),
	    queue_count_state(JOB_FAILED), queue_count_state(JOB_COMPLETE),
	    queue_count_state(JOB_DRAFT), queue_count_state(JOB_NEW));
	printf("output: %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64
	    " shorter than the journal says, %" PRIu64 " of no job (removed "
	    "at the next start)\n", co.files, co.bytes, co.missing,
	    co.extra);
	if (co.missing != 0) {
		printf("output: %s\n", co.first);
		damaged = 1;
	}
	queue_free();

done:
	printf("%s\n", damaged ? "damaged" : "sound");
	free(journal);
	free(outdir);
	free(config);
	free(statedir);
	return damaged;
}
