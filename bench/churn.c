/*
 * churn.c: the journal's size follows the live jobs, not the history.
 *
 *	churn STATEDIR TOTAL LIVE
 *
 * Through the real state machine, group commit and compaction (no mount,
 * no processes: the jobs are drafts, which never run), TOTAL jobs come and
 * go while LIVE stay: waves of LIVE new drafts, then the previous wave is
 * removed. Prints the journal's size and the number of compactions.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "filed.h"

static unsigned	pending;

/* A commit is done. */
static void
done(void *arg, int error)
{
	if (error != 0)
		fatalx("commit: %s", strerror(-error));
	pending--;
}

int
main(int argc, char **argv)
{
	struct journal	 *j;
	struct conf	  conf;
	struct job	**wave, *job;
	struct stat	  st;
	char		 *path, *cause, name[64];
	uint64_t	  total, live, made = 0, maxsize = 0;
	size_t		  i;
	const char	 *text = "echo a job of a realistic size; exit 0\n";

	if (argc != 4)
		fatalx("usage: churn STATEDIR TOTAL LIVE");
	total = strtoull(argv[2], NULL, 10);
	live = strtoull(argv[3], NULL, 10);
	log_init(0);
	conf_defaults(&conf);
	queue_init(1 << 20);
	path = xasprintf("%s/journal", argv[1]);
	if ((j = journal_open(path, 1 << 20, queue_replay, NULL,
	    &cause)) == NULL)
		fatalx("%s", cause);
	journal_attach(j, uv_default_loop());
	journal_set_snapshot(j, queue_snapshot, NULL);
	queue_set_journal(j);
	run_init(uv_default_loop(), argv[1], &conf);

	wave = xcalloc(live, sizeof *wave);
	while (made < total) {
		for (i = 0; i < live && made < total; i++, made++) {
			if (wave[i] != NULL) {
				pending++;
				queue_remove(wave[i], done, NULL);
			}
			snprintf(name, sizeof name, ".d%llu",
			    (unsigned long long)made);
			if (queue_new(name, 0, 0, 0, &job) != 0)
				fatalx("queue_new %s", name);
			pending++;
			queue_submit(job, text, strlen(text), 0, done, NULL);
			wave[i] = job;
		}
		while (pending > 0)
			uv_run(uv_default_loop(), UV_RUN_ONCE);
		if (stat(path, &st) == 0 && (uint64_t)st.st_size > maxsize)
			maxsize = (uint64_t)st.st_size;
	}
	while (!journal_idle(j))
		uv_run(uv_default_loop(), UV_RUN_ONCE);
	if (stat(path, &st) != 0)
		fatal("%s", path);
	printf("jobs             %llu came and went, %llu live\n",
	    (unsigned long long)total, (unsigned long long)live);
	printf("journal          %.1f KB now, %.1f KB at most\n",
	    st.st_size / 1e3, maxsize / 1e3);
	printf("tsv\t%llu\t%llu\t%lld\t%llu\n", (unsigned long long)total,
	    (unsigned long long)live, (long long)st.st_size,
	    (unsigned long long)maxsize);
	return 0;
}
