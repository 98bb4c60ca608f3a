/*
 * bsworker.c: beanstalkd's producer and worker for the peer comparison.
 *
 *	bsworker put PORT N
 *		puts N jobs (body "true") into the default tube of the
 *		beanstalkd on 127.0.0.1:PORT, one connection, one at a time.
 *		Prints "jobs/s seconds".
 *	bsworker work PORT N WORKERS
 *		WORKERS threads, each with its own connection: reserve,
 *		posix_spawn /bin/sh -c true, waitpid, delete; until N jobs were
 *		deleted in all. Prints "jobs/s seconds".
 *
 * The text protocol over TCP to 127.0.0.1 only.
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

struct conn {
	int	fd;
	char	buf[4096];
	size_t	len;
};

static int		port;
static long		njobs;
static long		deleted;
static pthread_mutex_t	lock = PTHREAD_MUTEX_INITIALIZER;

static void
dial(struct conn *c)
{
	struct sockaddr_in	sin;
	int			one = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		err(1, "connect 127.0.0.1:%d", port);
	c->len = 0;
}

static void
sendall(struct conn *c, const char *s, size_t n)
{
	ssize_t	r;

	while (n > 0) {
		if ((r = write(c->fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "write");
		}
		s += r;
		n -= r;
	}
}

/* Read one line ending in \r\n into out (without it). */
static void
readline(struct conn *c, char *out, size_t outsz)
{
	char	*e;
	ssize_t	 r;
	size_t	 n;

	for (;;) {
		if ((e = memchr(c->buf, '\n', c->len)) != NULL) {
			n = e - c->buf + 1;
			if (n - 1 >= outsz)
				errx(1, "line too long");
			memcpy(out, c->buf, n - 1);
			out[n - 1] = '\0';
			if (n >= 2 && out[n - 2] == '\r')
				out[n - 2] = '\0';
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return;
		}
		if (c->len == sizeof c->buf)
			errx(1, "line too long");
		if ((r = read(c->fd, c->buf + c->len,
		    sizeof c->buf - c->len)) <= 0)
			errx(1, "beanstalkd closed the connection");
		c->len += r;
	}
}

static void *
worker(void *arg)
{
	char		*argv[] = { "/bin/sh", "-c", "true", NULL };
	struct conn	 c;
	char		 line[256], body[256], cmd[64];
	unsigned long	 id;
	unsigned	 bytes;
	pid_t		 pid;
	int		 status, r;

	(void)arg;
	dial(&c);
	for (;;) {
		pthread_mutex_lock(&lock);
		r = deleted >= njobs;
		pthread_mutex_unlock(&lock);
		if (r)
			break;
		sendall(&c, "reserve-with-timeout 1\r\n", 24);
		readline(&c, line, sizeof line);
		if (strcmp(line, "TIMED_OUT") == 0 ||
		    strcmp(line, "DEADLINE_SOON") == 0)
			continue;
		if (sscanf(line, "RESERVED %lu %u", &id, &bytes) != 2)
			errx(1, "reserve: %s", line);
		readline(&c, body, sizeof body);
		if ((r = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv,
		    environ)) != 0)
			errno = r, err(1, "posix_spawn");
		if (waitpid(pid, &status, 0) == -1)
			err(1, "waitpid");
		r = snprintf(cmd, sizeof cmd, "delete %lu\r\n", id);
		sendall(&c, cmd, r);
		readline(&c, line, sizeof line);
		if (strcmp(line, "DELETED") != 0)
			errx(1, "delete: %s", line);
		pthread_mutex_lock(&lock);
		deleted++;
		pthread_mutex_unlock(&lock);
	}
	close(c.fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct conn	 c;
	pthread_t	*th;
	char		 line[256];
	double		 t0, t1;
	long		 i, w;

	if (argc < 4)
		errx(1, "usage: bsworker put PORT N | work PORT N WORKERS");
	port = atoi(argv[2]);
	njobs = atol(argv[3]);
	if (strcmp(argv[1], "put") == 0 && argc == 4) {
		dial(&c);
		t0 = now();
		for (i = 0; i < njobs; i++) {
			sendall(&c, "put 1024 0 600 4\r\ntrue\r\n", 24);
			readline(&c, line, sizeof line);
			if (strncmp(line, "INSERTED ", 9) != 0)
				errx(1, "put: %s", line);
		}
		t1 = now();
	} else if (strcmp(argv[1], "work") == 0 && argc == 5) {
		w = atol(argv[4]);
		if (w < 1 || (th = calloc(w, sizeof *th)) == NULL)
			errx(1, "bad WORKERS");
		t0 = now();
		for (i = 0; i < w; i++)
			if ((errno = pthread_create(&th[i], NULL, worker,
			    NULL)) != 0)
				err(1, "pthread_create");
		for (i = 0; i < w; i++)
			pthread_join(th[i], NULL);
		t1 = now();
		free(th);
	} else
		errx(1, "usage: bsworker put PORT N | work PORT N WORKERS");
	printf("%.1f %.4f\n", njobs / (t1 - t0), t1 - t0);
	return 0;
}
