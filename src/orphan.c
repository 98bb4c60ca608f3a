/*
 * orphan.c: what the attempts of a filed that died left running, found in
 * /proc and killed before the next filed starts anything.
 *
 * - Every process of an attempt is spawned with FILED_RUN=MARK/ID/ATTEMPT
 *   in its environment, MARK naming the state directory on this machine
 *   (its device and inode, in hex). /proc/PID/environ shows the
 *   environment a process was started with, whatever setenv or unset did
 *   to its copy since, so the mark holds for the attempt's main process
 *   and for every program it starts that keeps its environment, in its
 *   session or out of it (setsid, daemonizing).
 * - A process of the attempt that replaced its environment (env -i, sudo)
 *   but stayed in the attempt's session is found by its session: every
 *   process in the session of a marked one goes too.
 * - The journal's own word counts as well: for an attempt it records as
 *   running, the caller gives the pid and the start time it recorded. If
 *   that process is still the one that started then, its session goes; if
 *   no process has that pid any more but some are still in a session of
 *   that id, that session goes: a session id is not handed to a new
 *   process while any member of the session lives, and a member cannot
 *   have started before the attempt did. This catches what an attempt
 *   started by an older filed (no mark) or one whose marked processes are
 *   all gone left in its session. Its blind spot: if the attempt's
 *   session emptied while no filed ran, and its pid came round to a
 *   process that started a session and exited, leaving members, those
 *   are taken for the attempt's. Attempts recorded in another boot must
 *   not be given: the caller filters them out by boot id.
 * - Never filed itself, its session or its parent, whatever they carry.
 *
 * Why a mark, and not a record written before the spawn: the start of an
 * attempt is journaled lazily, sharing its fdatasync with whatever comes
 * in the next 2 ms, and a crash in that window left an attempt running
 * that the journal did not know; the next filed ran the job again beside
 * it. Syncing the start before the spawn would cost every job a
 * fdatasync; the mark costs one environment string, and it is in place
 * before the program runs: posix_spawn's child holds a copy of filed's
 * descriptors, the lock on STATEDIR/lock among them (close-on-exec), until
 * its exec succeeds or fails, so no other filed can take the state
 * directory while a child of the dead one has not yet shown its mark.
 *
 * Everything found is sent SIGKILL, /proc is read again until nothing of
 * it is left (a process can start a child between the scan and its
 * death; a zombie counts as gone), at most ORPHAN_WAIT_MS, and one line
 * per attempt says how many processes were killed. What /proc does not let
 * filed read (another user's environment, when filed is not root) is
 * skipped. Plain /proc and no event loop, so the unit tests link it.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filed.h"

/* How long the processes killed are waited for, and how often looked at. */
#define ORPHAN_WAIT_MS	5000
#define ORPHAN_POLL_MS	10

#define ORPHAN_VAR	"FILED_RUN="

/* An attempt processes are charged to, and how many of them were killed. */
struct owho {
	uint64_t	 id;
	unsigned	 attempt;
	int		 known;		/* id and attempt were read */
	unsigned	 killed;
};

/* A process as one reading of /proc saw it. */
struct oproc {
	pid_t		 pid;
	pid_t		 sid;
	uint64_t	 start;		/* clock ticks since boot */
	char		 state;
	int		 marked;
	struct owho	 mark;		/* what its FILED_RUN says */
};

/* A session all of whose processes are killed. */
struct osess {
	pid_t		 sid;
	size_t		 who;		/* index in reap.who */
};

/* A process sent SIGKILL, or that could not be. */
struct otarget {
	pid_t		 pid;
	uint64_t	 start;
	int		 refused;	/* kill said EPERM: not waited for */
};

/* One orphan_reap: whom it spares, what it saw, what it killed. */
struct reap {
	const char	*mark;
	size_t		 marklen;
	pid_t		 self;
	pid_t		 parent;
	pid_t		 own;		/* filed's session */
	struct buf	 env;
	struct oproc	*proc;
	size_t		 nproc;
	struct osess	*sess;
	size_t		 nsess;
	struct otarget	*target;
	size_t		 ntarget;
	struct owho	*who;
	size_t		 nwho;
};

static int	 orphan_read(const char *, struct buf *);
static int	 orphan_stat(pid_t, struct oproc *);
static void	 orphan_environ(struct reap *, struct oproc *);
static void	 orphan_scan(struct reap *);
static struct oproc *orphan_find(struct reap *, pid_t);
static int	 orphan_spared(struct reap *, pid_t, pid_t);
static size_t	 orphan_who(struct reap *, const struct owho *);
static struct osess *orphan_sess(struct reap *, pid_t);
static void	 orphan_sess_add(struct reap *, pid_t, size_t);
static void	 orphan_hints(struct reap *, const struct orphan_hint *, size_t,
		    int (*)(pid_t, uint64_t));
static size_t	 orphan_kill(struct reap *);
static void	 orphan_left(struct reap *);
static uint64_t	 orphan_ms(void);
static uint64_t	 orphan_hz(void);


/* The mark of the state directory: "DEV-INO" in hex, malloc'd. */
char *
orphan_mark(const char *statedir)
{
	struct stat	sb;

	if (stat(statedir, &sb) == -1)
		fatal("stat %s", statedir);
	return xasprintf("%llx-%llx", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
}

/* This boot's id (/proc/sys/kernel/random/boot_id), or "" if unknown. */
const char *
orphan_boot_id(void)
{
	static char	 id[64];
	static int	 done;
	ssize_t		 n;
	int		 fd;

	if (done)
		return id;
	done = 1;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return id;
	n = read(fd, id, sizeof id - 1);
	close(fd);
	id[n > 0 ? n : 0] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return id;
}

/* Read a whole file of /proc into b. Returns 0, or -1 (errno set). */
static int
orphan_read(const char *path, struct buf *b)
{
	ssize_t	n;
	int	fd, e;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		buf_reserve(b, 4096);
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b->len += (size_t)n;
	}
	e = errno;
	close(fd);
	b->data[b->len] = '\0';
	if (n == -1) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Fill p's state, session and start time from /proc/PID/stat. */
static int
orphan_stat(pid_t pid, struct oproc *p)
{
	char	 path[64], buf[1024], *s, *end;
	ssize_t	 n;
	long	 sid = 0;
	int	 fd, field;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/*
	 * The command name (field 2) may hold anything; the fields restart
	 * after the last ')': 3 the state, 6 the session, 22 the start.
	 */
	if ((s = strrchr(buf, ')')) == NULL || s[1] != ' ' || s[2] == '\0')
		return -1;
	p->state = s[2];
	s++;
	for (field = 3; field < 22; field++) {
		if ((s = strchr(s + 1, ' ')) == NULL)
			return -1;
		if (field + 1 == 6) {
			errno = 0;
			sid = strtol(s + 1, &end, 10);
			if (errno != 0 || *end != ' ')
				return -1;
		}
	}
	errno = 0;
	p->start = strtoull(s + 1, &end, 10);
	if (errno != 0 || end == s + 1)
		return -1;
	p->pid = pid;
	p->sid = (pid_t)sid;
	return 0;
}

/*
 * Does the environment p was started with hold FILED_RUN=MARK/? Then it
 * is marked, charged to the ID/ATTEMPT that follows.
 */
static void
orphan_environ(struct reap *r, struct oproc *p)
{
	char			 path[64], *s, *end, *e;
	unsigned long long	 id;
	unsigned long		 att;

	p->marked = 0;
	memset(&p->mark, 0, sizeof p->mark);
	snprintf(path, sizeof path, "/proc/%ld/environ", (long)p->pid);
	if (orphan_read(path, &r->env) == -1)
		return;		/* gone, or not filed's to read */
	end = r->env.data + r->env.len;
	for (s = r->env.data; s < end; s += strlen(s) + 1) {
		if (strncmp(s, ORPHAN_VAR, sizeof ORPHAN_VAR - 1) != 0)
			continue;
		s += sizeof ORPHAN_VAR - 1;
		if (strncmp(s, r->mark, r->marklen) != 0 ||
		    s[r->marklen] != '/')
			continue;
		p->marked = 1;
		s += r->marklen + 1;
		errno = 0;
		if (!isdigit((unsigned char)*s))
			return;
		id = strtoull(s, &e, 10);
		if (errno != 0 || *e != '/' ||
		    !isdigit((unsigned char)e[1]))
			return;
		att = strtoul(e + 1, &e, 10);
		if (errno != 0 || *e != '\0' || att > UINT32_MAX)
			return;
		p->mark.id = id;
		p->mark.attempt = (unsigned)att;
		p->mark.known = 1;
		return;
	}
}

/* Read every process of /proc into r->proc. */
static void
orphan_scan(struct reap *r)
{
	struct dirent	*de;
	struct oproc	 p;
	size_t		 cap = r->nproc;
	char		*end;
	long		 pid;
	DIR		*d;

	r->nproc = 0;
	if ((d = opendir("/proc")) == NULL) {
		log_warn("opendir /proc");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		errno = 0;
		pid = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0)
			continue;
		memset(&p, 0, sizeof p);
		if (orphan_stat((pid_t)pid, &p) == -1)
			continue;	/* gone meanwhile */
		if (p.state != 'Z' && p.state != 'X')
			orphan_environ(r, &p);
		if (r->nproc == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			r->proc = xreallocarray(r->proc, cap, sizeof *r->proc);
		}
		r->proc[r->nproc++] = p;
	}
	closedir(d);
}

/* The process pid as the last scan saw it, or NULL. */
static struct oproc *
orphan_find(struct reap *r, pid_t pid)
{
	size_t	i;

	for (i = 0; i < r->nproc; i++) {
		if (r->proc[i].pid == pid)
			return &r->proc[i];
	}
	return NULL;
}

/* Is this process filed, its parent, init, or in filed's session? */
static int
orphan_spared(struct reap *r, pid_t pid, pid_t sid)
{
	return pid <= 1 || pid == r->self || pid == r->parent ||
	    sid <= 1 || sid == r->own;
}

/* The index of attempt w in r->who, added if new. */
static size_t
orphan_who(struct reap *r, const struct owho *w)
{
	size_t	i;

	for (i = 0; i < r->nwho; i++) {
		if (r->who[i].known == w->known && r->who[i].id == w->id &&
		    r->who[i].attempt == w->attempt)
			return i;
	}
	r->who = xreallocarray(r->who, r->nwho + 1, sizeof *r->who);
	r->who[r->nwho] = *w;
	r->who[r->nwho].killed = 0;
	return r->nwho++;
}

/* The session sid if all of it is to be killed, or NULL. */
static struct osess *
orphan_sess(struct reap *r, pid_t sid)
{
	size_t	i;

	for (i = 0; i < r->nsess; i++) {
		if (r->sess[i].sid == sid)
			return &r->sess[i];
	}
	return NULL;
}

/* Kill all of session sid, charging its processes to attempt who. */
static void
orphan_sess_add(struct reap *r, pid_t sid, size_t who)
{
	if (orphan_spared(r, sid, sid) || orphan_sess(r, sid) != NULL)
		return;
	r->sess = xreallocarray(r->sess, r->nsess + 1, sizeof *r->sess);
	r->sess[r->nsess].sid = sid;
	r->sess[r->nsess].who = who;
	r->nsess++;
}

/*
 * The sessions of the attempts the journal says were running: same(pid,
 * pst) tells whether pid is still the process that started at pst.
 */
static void
orphan_hints(struct reap *r, const struct orphan_hint *h, size_t n,
    int (*same)(pid_t, uint64_t))
{
	struct owho	 w;
	struct oproc	*p;
	uint64_t	 now = orphan_ticks(), slack = orphan_hz() / 10;
	size_t		 i, j, members;
	int		 older;

	for (i = 0; i < n; i++) {
		/* A start later than now on this boot's clock is not ours. */
		if (h[i].pid <= 1 || h[i].pst == 0 || h[i].pst > now)
			continue;
		memset(&w, 0, sizeof w);
		w.id = h[i].id;
		w.attempt = h[i].attempt;
		w.known = 1;
		if ((p = orphan_find(r, h[i].pid)) != NULL) {
			if (same(h[i].pid, h[i].pst))
				orphan_sess_add(r, p->sid, orphan_who(r, &w));
			continue;	/* else the pid was given again */
		}
		/*
		 * Its main process is gone. Its session may live on; every
		 * member of it must have started after the attempt (pst may
		 * be a little later than the kernel's start time).
		 */
		members = 0;
		older = 0;
		for (j = 0; j < r->nproc; j++) {
			p = &r->proc[j];
			if (p->sid != h[i].pid || p->state == 'Z' ||
			    p->state == 'X')
				continue;
			members++;
			if (p->start + slack < h[i].pst)
				older = 1;
		}
		if (members > 0 && !older)
			orphan_sess_add(r, h[i].pid, orphan_who(r, &w));
	}
}

/*
 * Send SIGKILL to every process of the last scan that is marked or in a
 * session to be killed, if it was not sent one already. Returns how many
 * of them are still there.
 */
static size_t
orphan_kill(struct reap *r)
{
	struct oproc	*p;
	struct osess	*s;
	struct otarget	*t;
	size_t		 i, j, who, left = 0;

	for (i = 0; i < r->nproc; i++) {
		p = &r->proc[i];
		if (p->marked && !orphan_spared(r, p->pid, p->sid))
			orphan_sess_add(r, p->sid, orphan_who(r, &p->mark));
	}
	for (i = 0; i < r->nproc; i++) {
		p = &r->proc[i];
		if (p->state == 'Z' || p->state == 'X' ||
		    orphan_spared(r, p->pid, p->sid))
			continue;
		if (p->marked)
			who = orphan_who(r, &p->mark);
		else if ((s = orphan_sess(r, p->sid)) != NULL)
			who = s->who;
		else
			continue;
		for (j = 0; j < r->ntarget; j++) {
			t = &r->target[j];
			if (t->pid == p->pid && t->start == p->start)
				break;
		}
		if (j < r->ntarget) {
			/* Sent SIGKILL already, and not dead yet. */
			if (!r->target[j].refused)
				left++;
			continue;
		}
		r->target = xreallocarray(r->target, r->ntarget + 1,
		    sizeof *r->target);
		t = &r->target[r->ntarget++];
		t->pid = p->pid;
		t->start = p->start;
		t->refused = 0;
		if (kill(p->pid, SIGKILL) == 0) {
			r->who[who].killed++;
			left++;
		} else if (errno == EPERM) {
			log_warnx("process %ld, left from before the restart, "
			    "may not be killed by filed", (long)p->pid);
			t->refused = 1;
		}
	}
	return left;
}

/* Log the processes killed that are still there after ORPHAN_WAIT_MS. */
static void
orphan_left(struct reap *r)
{
	struct otarget	*t;
	struct oproc	*p;
	size_t		 i;

	for (i = 0; i < r->ntarget; i++) {
		t = &r->target[i];
		if (t->refused || (p = orphan_find(r, t->pid)) == NULL ||
		    p->start != t->start || p->state == 'Z' || p->state == 'X')
			continue;
		log_warnx("process %ld, left from before the restart, is "
		    "still there %d s after SIGKILL (state %c)", (long)t->pid,
		    ORPHAN_WAIT_MS / 1000, p->state);
	}
}

/* A monotonic clock, in milliseconds. */
static uint64_t
orphan_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Clock ticks a second, as /proc counts start times. */
static uint64_t
orphan_hz(void)
{
	static uint64_t	 hz;
	long		 n;

	if (hz == 0) {
		n = sysconf(_SC_CLK_TCK);
		hz = n > 0 ? (uint64_t)n : 100;
	}
	return hz;
}

/*
 * Clock ticks since boot, now: the clock of /proc's start times, read
 * from the clock rather than from /proc (no open and read per attempt).
 */
uint64_t
orphan_ticks(void)
{
	struct timespec	ts;
	uint64_t	hz = orphan_hz();

	if (clock_gettime(CLOCK_BOOTTIME, &ts) == -1)
		return UINT64_MAX;
	return (uint64_t)ts.tv_sec * hz +
	    (uint64_t)ts.tv_nsec / (1000000000 / hz);
}

/*
 * Kill what attempts of a filed that died left running: the processes
 * marked FILED_RUN=MARK/..., the sessions they are in, and the sessions
 * of the n attempts in hints; wait until they are gone. Returns the
 * number of processes killed.
 */
unsigned
orphan_reap(const char *mark, const struct orphan_hint *hints, size_t n,
    int (*same)(pid_t, uint64_t))
{
	struct timespec	 ts = { 0, ORPHAN_POLL_MS * 1000000L };
	struct reap	 r;
	struct owho	*w;
	uint64_t	 deadline = orphan_ms() + ORPHAN_WAIT_MS;
	unsigned	 total = 0;
	size_t		 i;
	int		 first;

	memset(&r, 0, sizeof r);
	r.mark = mark;
	r.marklen = strlen(mark);
	r.self = getpid();
	r.parent = getppid();
	r.own = getsid(0);
	buf_init(&r.env);
	for (first = 1;; first = 0) {
		orphan_scan(&r);
		if (first)
			orphan_hints(&r, hints, n, same);
		if (orphan_kill(&r) == 0)
			break;
		if (orphan_ms() >= deadline) {
			orphan_left(&r);
			break;
		}
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < r.nwho; i++) {
		w = &r.who[i];
		if (w->killed == 0)
			continue;
		total += w->killed;
		if (w->known)
			log_info("job %llu attempt %u: killed %u process%s "
			    "left from before the restart",
			    (unsigned long long)w->id, w->attempt, w->killed,
			    w->killed == 1 ? "" : "es");
		else
			log_info("killed %u process%s marked " ORPHAN_VAR
			    "%s/ left from before the restart", w->killed,
			    w->killed == 1 ? "" : "es", mark);
	}
	buf_free(&r.env);
	free(r.proc);
	free(r.sess);
	free(r.target);
	free(r.who);
	return total;
}

/*
 * Is pid still the process that started at pst (orphan_ticks just after
 * its spawn)? pst may be a little later than the start time the kernel
 * keeps: up to a tenth of a second is allowed. A pid is reused only after
 * the pid numbers have gone round, never that fast.
 */
int
orphan_same(pid_t pid, uint64_t pst)
{
	struct oproc	p;

	memset(&p, 0, sizeof p);
	if (orphan_stat(pid, &p) != 0 || p.start == 0)
		return 0;
	return p.start <= pst && pst - p.start <= orphan_hz() / 10;
}
