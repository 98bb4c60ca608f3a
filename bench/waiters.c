/*
 * bench/waiters.c: readers of wait/NAME for bench/waiters.sh.
 *
 *	waiters MNT PREFIX N
 *
 * Starts N threads (small stacks); thread i opens MNT/wait/PREFIXi and
 * reads it once. Prints "started" once every thread is about to read;
 * once all have an answer, prints how many got each one ("complete",
 * "ECONNABORTED", ...), one count a line. Threads, not processes, and C,
 * not a language with a global lock, so that readers that wait cost no
 * CPU: only what filed spends on them is measured.
 */

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXANS	16

static const char	*mnt, *prefix;
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cond = PTHREAD_COND_INITIALIZER;
static unsigned		 nready;
static char		 ans[MAXANS][32];
static unsigned		 count[MAXANS];

static void	*reader(void *);
static void	 note(const char *);

/* Count one answer. */
static void
note(const char *a)
{
	int	i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < MAXANS && ans[i][0] != '\0'; i++) {
		if (strcmp(ans[i], a) == 0)
			break;
	}
	if (i < MAXANS) {
		if (ans[i][0] == '\0')
			snprintf(ans[i], sizeof ans[i], "%s", a);
		count[i]++;
	}
	pthread_mutex_unlock(&lock);
}

/* Open and read one wait file. */
static void *
reader(void *arg)
{
	char	path[4096], buf[64];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof path, "%s/wait/%s%lu", mnt, prefix,
	    (unsigned long)(uintptr_t)arg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	pthread_mutex_lock(&lock);
	nready++;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	if (fd == -1) {
		snprintf(buf, sizeof buf, "open %s", strerrorname_np(errno));
		note(buf);
		return NULL;
	}
	if ((n = read(fd, buf, sizeof buf - 1)) == -1)
		snprintf(buf, sizeof buf, "%s", strerrorname_np(errno));
	else {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	}
	close(fd);
	note(buf);
	return NULL;
}

/* Start the readers, wait until all are answered, count the answers. */
int
main(int argc, char **argv)
{
	pthread_attr_t	 attr;
	pthread_t	*t;
	struct rlimit	 rl;
	unsigned long	 i, n;
	int		 error;

	if (argc != 4) {
		fprintf(stderr, "usage: waiters MNT PREFIX N\n");
		return 2;
	}
	mnt = argv[1];
	prefix = argv[2];
	n = strtoul(argv[3], NULL, 10);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = n + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			perror("setrlimit");
			return 1;
		}
	}
	if ((t = calloc(n, sizeof *t)) == NULL) {
		perror("calloc");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < n; i++) {
		error = pthread_create(&t[i], &attr, reader, (void *)(uintptr_t)i);
		if (error != 0) {
			fprintf(stderr, "pthread_create: %s\n",
			    strerror(error));
			return 1;
		}
	}
	pthread_mutex_lock(&lock);
	while (nready < n)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	printf("started\n");
	fflush(stdout);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < MAXANS && ans[i][0] != '\0'; i++)
		printf("%u %s\n", count[i], ans[i]);
	free(t);
	return 0;
}
