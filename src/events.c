/*
 * events.c: the events stream, one line per change of a job.
 *
 * A reader that opens events reads, from the moment of its open, one line
 * for each change that watch.c announces, in the order they happened:
 *
 *	TIME NAME STATE KEY=VALUE...
 *
 * (the keys of each state and the escaping of NAME: filed.1, "events").
 *
 * - The lines live in one ring that all readers share: a change is
 *   formatted once, and a reader is only a position in the ring (the
 *   number of the next line it reads). N readers cost one format and one
 *   answer for each reader waiting at the end; a reader that does not
 *   read costs nothing per change.
 * - The ring holds the last EVENTS_LINES lines and at most EVENTS_BYTES
 *   bytes of them; that is the backlog of every reader. A reader that
 *   falls behind does not make filed grow: the lines it did not read are
 *   dropped, and its next read starts with one line "TIME - missed N",
 *   then goes on with the oldest line still held.
 * - With no reader open, events_change() returns at once (nothing is
 *   formatted) and the ring is freed.
 * - A read gets as many whole lines as fit; only a read too small for one
 *   line gets part of it, and the reader keeps the rest for its next read.
 *   A read at the end of the stream is parked, and answered a moment after
 *   the next change (events_change()), or EINTR when interrupted.
 * - poll(2): events is readable when a line waits. With a poll that will
 *   sleep the kernel hands a poll handle; a reader keeps the newest one,
 *   and the next change notifies and drops it.
 * - When filed stops, parked reads get end of file, and so does every
 *   read at the end from then on: nothing is parked any more, and what
 *   comes after (the lines of the attempts the stop interrupts) is given
 *   to the reads that still come, then end of file. The unmount waits a
 *   moment for the readers to close (events_parked()).
 *
 * Invariants: a reader is on ev.waiting exactly when it has a parked read
 * or a poll handle; ev.parked counts the parked reads of all readers; the
 * ring exists exactly while a reader is open.
 */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>
#include <uv.h>

#include "filed.h"

#define EVENTS_LINES	4096		/* lines the ring holds */
#define EVENTS_BYTES	(1024 * 1024)	/* bytes the ring holds */
#define EVENTS_LINGER	1000000000ULL	/* ns: a stop waits for readers */
#define EVENTS_BATCH_MS	1		/* readers waiting are answered after */

/*
 * Where line number n is: slot[n % EVENTS_LINES]. Its position counts the
 * bytes written since the ring was made; the line is at data[pos %
 * EVENTS_BYTES].
 */
struct slot {
	uint64_t	 pos;
	uint32_t	 len;
	int64_t		 time;		/* of the change, ns */
};

/* A read parked at the end of the stream. */
struct events_read {
	fuse_req_t		 req;
	size_t			 size;
	struct events_reader	*r;
	TAILQ_ENTRY(events_read) entry;
};

/* An open file of events. */
struct events_reader {
	uint64_t	 next;		/* the next line it reads */
	struct buf	 carry;		/* the rest of a line read in part */
	size_t		 carried;	/* the bytes of carry read */
	struct fuse_pollhandle *ph;	/* notified at the next change */
	TAILQ_HEAD(, events_read) reads;
	int		 waiting;	/* on ev.waiting */
	TAILQ_ENTRY(events_reader) entry;
};
TAILQ_HEAD(readers, events_reader);

static struct {
	char		*data;		/* EVENTS_BYTES */
	struct slot	*slot;		/* EVENTS_LINES */
	uint64_t	 head;		/* the oldest line held */
	uint64_t	 next;		/* the number of the next line */
	uint64_t	 end;		/* where the next line may start */
	int64_t		 dropped;	/* the time of line head - 1 */
	unsigned	 nreaders;
	unsigned	 parked;
	int		 stopped;
	uint64_t	 stopped_at;	/* uv_hrtime() */
	struct readers	 waiting;	/* with a parked read or a handle */
	struct buf	 line;		/* the line being formatted */
	struct buf	 out;		/* the answer to a read */
	uv_timer_t	 batch;		/* answers the readers waiting */
	int		 init;
} ev = {
	.waiting = TAILQ_HEAD_INITIALIZER(ev.waiting)
};

static void	 events_name(struct buf *, const char *);
static void	 events_ended(struct buf *, const struct change *);
static void	 events_format(const struct change *, const char *);
static void	 events_add(int64_t);
static int	 events_ready(const struct events_reader *);
static size_t	 events_fill(struct events_reader *, size_t);
static void	 events_answer(struct events_read *);
static void	 events_interrupted(fuse_req_t, void *);
static void	 events_update(struct events_reader *);
static void	 events_notify(struct events_reader *);
static void	 events_wake(void);
static void	 events_batch(uv_timer_t *);

/*
 * Write a job's name so that it stays one field of one line: a backslash
 * becomes "\\"; a space, and every byte that is not printable ASCII,
 * "\xHH" (lowercase); a name that is exactly "-" (the name of the missed
 * line) "\x2d". The name then holds nothing a reader could take for a
 * separator, whatever its locale: not a space, not a byte of a UTF-8
 * character that some readers split lines or words on (U+0085, U+00A0,
 * U+2028), and it decodes with one rule (printf '%b' in bash, Python's
 * unicode_escape then latin-1).
 */
static void
events_name(struct buf *b, const char *name)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;

	if (strcmp(name, "-") == 0) {
		buf_adds(b, "\\x2d");
		return;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '\\')
			buf_add(b, "\\\\", 2);
		else if (*p > ' ' && *p < 0x7f)
			buf_addc(b, (char)*p);
		else {
			buf_add(b, "\\x", 2);
			buf_addc(b, hex[*p >> 4]);
			buf_addc(b, hex[*p & 0xf]);
		}
	}
}

/*
 * The keys of a line about an attempt that ended: its number, how it
 * ended (exit=STATUS, or signal=NAME for one killed by a signal; neither
 * for a cancelled or interrupted one, whose processes are killed after
 * the change) and the word for it (view_reason()).
 */
static void
events_ended(struct buf *b, const struct change *c)
{
	const struct attempt	*a = c->a;
	char			 sig[32];

	if (a == NULL) {
		/* Failed without running: a job it runs after did not. */
		buf_adds(b, " reason=dependency");
		return;
	}
	buf_printf(b, " attempt=%u", c->attempt);
	if (a->how == HOW_EXIT || a->how == HOW_SIGNAL ||
	    a->how == HOW_TIMEOUT) {
		if (a->signal != 0)
			buf_printf(b, " signal=%s",
			    view_signame(a->signal, sig, sizeof sig));
		else
			buf_printf(b, " exit=%d", a->status);
	}
	buf_printf(b, " reason=%s", view_reason(a));
}

/* Format the line of change c, with state as its STATE, into ev.line. */
static void
events_format(const struct change *c, const char *state)
{
	struct buf	*b = &ev.line;
	char		 t[64];
	int64_t		 at;

	buf_reset(b);
	buf_adds(b, util_rfc3339_ms(c->time, t, sizeof t));
	buf_addc(b, ' ');
	events_name(b, c->job->name);
	buf_addc(b, ' ');
	buf_adds(b, state);
	switch (c->kind) {
	case CH_PENDING:
		if (!c->submitted)
			buf_printf(b, " from=%s", queue_state_name(c->prev));
		break;
	case CH_ACTIVE:
		buf_printf(b, " attempt=%u pid=%ld", c->attempt,
		    c->job->live != NULL ? (long)c->job->live->pid : 0L);
		break;
	case CH_RETRY:
		events_ended(b, c);
		/* No wait (backoff_base 0): it may run again at once. */
		at = c->retry_at > c->time ? c->retry_at : c->time;
		buf_printf(b, " retry_at=%s", util_rfc3339_ms(at, t, sizeof t));
		break;
	case CH_INTERRUPTED:
	case CH_COMPLETE:
	case CH_FAILED:
	case CH_CANCELLED:
		events_ended(b, c);
		break;
	case CH_REMOVED:
		buf_printf(b, " from=%s", queue_state_name(c->prev));
		if (c->why != NULL)
			buf_printf(b, " reason=%s", c->why);
		break;
	}
	buf_addc(b, '\n');
}

/*
 * Add ev.line to the ring as the line of a change at time t, dropping the
 * oldest lines to make room. A line never wraps around the end of data:
 * one that would starts at the beginning instead. Positions only grow, so
 * the lines a new one overwrites are the oldest ones: those that start
 * more than EVENTS_BYTES before its end.
 */
static void
events_add(int64_t t)
{
	struct slot	*s;
	uint64_t	 pos = ev.end;
	size_t		 len = ev.line.len;

	if (pos % EVENTS_BYTES + len > EVENTS_BYTES)
		pos += EVENTS_BYTES - pos % EVENTS_BYTES;
	while (ev.head < ev.next) {
		s = &ev.slot[ev.head % EVENTS_LINES];
		if (ev.next - ev.head < EVENTS_LINES &&
		    s->pos + EVENTS_BYTES >= pos + len)
			break;
		ev.dropped = s->time;
		ev.head++;
	}
	s = &ev.slot[ev.next % EVENTS_LINES];
	s->pos = pos;
	s->len = (uint32_t)len;
	s->time = t;
	memcpy(ev.data + pos % EVENTS_BYTES, ev.line.data, len);
	ev.end = pos + len;
	ev.next++;
}

/* Does a read of r return something now (a line, or end of file)? */
static int
events_ready(const struct events_reader *r)
{
	return r->carried < r->carry.len || r->next < ev.next || ev.stopped;
}

/*
 * Put into ev.out what a read of size bytes by r returns now: the rest of
 * a line read in part, the missed line if r fell behind, then its next
 * lines, as many whole ones as fit. Only when not even the first fits does
 * it get part of it, and r keeps the rest. Returns the length.
 */
static size_t
events_fill(struct events_reader *r, size_t size)
{
	struct slot	*s;
	const char	*line;
	char		 missed[96], t[64];
	size_t		 len;
	int		 from;		/* 0 carry, 1 missed, 2 ring */

	buf_reset(&ev.out);
	for (;;) {
		if (r->carried < r->carry.len) {
			from = 0;
			line = r->carry.data + r->carried;
			len = r->carry.len - r->carried;
		} else if (r->next < ev.head) {
			from = 1;
			len = (size_t)snprintf(missed, sizeof missed,
			    "%s - missed %llu\n",
			    util_rfc3339_ms(ev.dropped, t, sizeof t),
			    (unsigned long long)(ev.head - r->next));
			line = missed;
		} else if (r->next < ev.next) {
			from = 2;
			s = &ev.slot[r->next % EVENTS_LINES];
			line = ev.data + s->pos % EVENTS_BYTES;
			len = s->len;
		} else
			break;
		if (len > size - ev.out.len) {
			if (ev.out.len > 0)
				break;
			/* Not even one line fits: part of it. */
			buf_add(&ev.out, line, size);
			if (from == 0)
				r->carried += size;
			else {
				buf_reset(&r->carry);
				buf_add(&r->carry, line + size, len - size);
				r->carried = 0;
			}
		} else {
			buf_add(&ev.out, line, len);
			if (from == 0)
				r->carried = r->carry.len;
		}
		if (from == 0 && r->carried == r->carry.len) {
			buf_reset(&r->carry);
			r->carried = 0;
		} else if (from == 1)
			r->next = ev.head;
		else if (from == 2)
			r->next++;
		if (ev.out.len == size)
			break;
	}
	return ev.out.len;
}

/* Answer a parked read with what its reader has now, and forget it. */
static void
events_answer(struct events_read *pr)
{
	struct events_reader	*r = pr->r;
	size_t			 len;

	TAILQ_REMOVE(&r->reads, pr, entry);
	ev.parked--;
	len = events_fill(r, pr->size);
	fuse_reply_buf(pr->req, ev.out.data, len);
	free(pr);
}

/*
 * An interrupt (a signal to the reader) for a parked read: it gets EINTR.
 * Called by libfuse on the loop thread, inside the processing of the
 * INTERRUPT request; a reply from here is safe (libfuse holds its own
 * reference to the request until the callback returns).
 */
static void
events_interrupted(fuse_req_t req, void *arg)
{
	struct events_read	*pr = arg;
	struct events_reader	*r = pr->r;

	TAILQ_REMOVE(&r->reads, pr, entry);
	ev.parked--;
	free(pr);
	events_update(r);
	fuse_reply_err(req, EINTR);
	log_debug("events: a read was interrupted (%u parked)", ev.parked);
}

/* Put r on ev.waiting, or take it off, as it waits for a change or not. */
static void
events_update(struct events_reader *r)
{
	int	waiting = !TAILQ_EMPTY(&r->reads) || r->ph != NULL;

	if (waiting && !r->waiting)
		TAILQ_INSERT_TAIL(&ev.waiting, r, entry);
	else if (!waiting && r->waiting)
		TAILQ_REMOVE(&ev.waiting, r, entry);
	r->waiting = waiting;
}

/*
 * Wake up the poll(2) of r, and drop its handle: the poll that wakes up
 * asks again, with a new handle if it must sleep again.
 *
 * Why this is safe from the loop thread, unlike fuse_lowlevel_notify_
 * inval_entry() (which can deadlock it: notes/fuse-libuv-style.md, A3):
 * in libfuse (lib/fuse_lowlevel.c, fuse_lowlevel_notify_poll ->
 * send_notify_iov -> fuse_send_msg) it is one writev(2) of a
 * FUSE_NOTIFY_POLL message on /dev/fuse, and takes no lock of the
 * session. In the kernel, fuse_dev_do_write() hands a message whose
 * unique is 0 to fuse_notify() (fs/fuse/dev.c), and fuse_notify_poll()
 * copies the kernel handle in and calls fuse_notify_poll_wakeup()
 * (fs/fuse/file.c): under fc->lock, a spinlock, it looks the handle up in
 * the connection's tree of polled files and wake_up_interruptible_sync()s
 * the file's poll_wait queue. It takes no inode lock, sends no request to
 * filed and waits for nothing, so the write returns at once whatever the
 * loop thread is in the middle of. A handle whose file was released since
 * (a file leaves the tree only at its release) is not found and nothing
 * happens; the call still returns 0.
 */
static void
events_notify(struct events_reader *r)
{
	int	rv;

	if (r->ph == NULL)
		return;
	if ((rv = fuse_lowlevel_notify_poll(r->ph)) != 0)
		log_debug("events: poll notification: %s", strerror(-rv));
	fuse_pollhandle_destroy(r->ph);
	r->ph = NULL;
}

/*
 * A line was added, or filed stops: answer the parked reads of each
 * waiting reader while it has something for them, and notify its poll.
 * Of two reads parked by one reader (two threads reading one descriptor)
 * the first may take every line; the second then waits on.
 */
static void
events_wake(void)
{
	struct readers		 list;
	struct events_reader	*r;
	struct events_read	*pr;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &ev.waiting, entry);
	while ((r = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, r, entry);
		r->waiting = 0;
		while ((pr = TAILQ_FIRST(&r->reads)) != NULL &&
		    events_ready(r))
			events_answer(pr);
		events_notify(r);
		events_update(r);
	}
}

/* The batch of changes is over: answer the readers waiting. */
static void
events_batch(uv_timer_t *t)
{
	events_wake();
}

/* Set up the stream on loop. */
void
events_init(uv_loop_t *loop)
{
	uv_timer_init(loop, &ev.batch);
	ev.init = 1;
}

/* A reader opens events: it reads from the next change on. */
struct events_reader *
events_open(void)
{
	struct events_reader	*r;

	if (ev.nreaders++ == 0) {
		ev.data = xmalloc(EVENTS_BYTES);
		ev.slot = xcalloc(EVENTS_LINES, sizeof *ev.slot);
		ev.head = ev.next = ev.end = 0;
	}
	r = xcalloc(1, sizeof *r);
	r->next = ev.next;
	buf_init(&r->carry);
	TAILQ_INIT(&r->reads);
	return r;
}

/*
 * A read of events: what waits for r, or end of file once filed stops;
 * otherwise the read is parked until the next change or an interrupt.
 */
void
events_read(struct fuse_req *req, struct events_reader *r, size_t size)
{
	struct events_read	*pr;
	size_t			 len;

	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (events_ready(r)) {
		len = events_fill(r, size);
		fuse_reply_buf(req, ev.out.data, len);
		return;
	}
	/*
	 * fuse_req_interrupt_func() calls the callback at once for a
	 * request already interrupted (an INTERRUPT that came before the
	 * read), holding the request's lock; a reply from there would free
	 * the request under that lock (lib/fuse_lowlevel.c: the last
	 * reference is dropped in fuse_free_req()). So such a read is
	 * answered here, before: with one thread nothing can interrupt it
	 * between this check and the registration.
	 */
	if (fuse_req_interrupted(req)) {
		fuse_reply_err(req, EINTR);
		return;
	}
	pr = xmalloc(sizeof *pr);
	pr->req = req;
	pr->size = size;
	pr->r = r;
	TAILQ_INSERT_TAIL(&r->reads, pr, entry);
	ev.parked++;
	events_update(r);
	fuse_req_interrupt_func(req, events_interrupted, pr);
}

/*
 * poll(2) of events: readable when a read would return at once. A reader
 * that is not keeps ph, the newest handle, to be notified at the next
 * change; an older one it held is dropped (the kernel notifies by file,
 * so the newest handle is enough).
 */
void
events_poll(struct fuse_req *req, struct events_reader *r,
    struct fuse_pollhandle *ph)
{
	if (events_ready(r)) {
		if (ph != NULL)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM);
		return;
	}
	if (ph != NULL) {
		if (r->ph != NULL)
			fuse_pollhandle_destroy(r->ph);
		r->ph = ph;
		events_update(r);
	}
	fuse_reply_poll(req, 0);
}

/* events is closed: forget r, and the ring with the last reader. */
void
events_release(struct events_reader *r)
{
	struct events_read	*pr;

	/* The kernel releases a file only when no read of it is left. */
	while ((pr = TAILQ_FIRST(&r->reads)) != NULL) {
		TAILQ_REMOVE(&r->reads, pr, entry);
		ev.parked--;
		fuse_reply_err(pr->req, EINTR);
		free(pr);
	}
	if (r->ph != NULL) {
		fuse_pollhandle_destroy(r->ph);
		r->ph = NULL;
	}
	events_update(r);
	buf_free(&r->carry);
	free(r);
	if (--ev.nreaders == 0) {
		free(ev.data);
		free(ev.slot);
		ev.data = NULL;
		ev.slot = NULL;
		buf_free(&ev.line);
		buf_free(&ev.out);
	}
}

/*
 * A job changed (watch.c): add its line, and answer the readers that wait
 * EVENTS_BATCH_MS later. A draft is not a job: its removal (rm, or a
 * draft renamed over it) writes nothing, and a job being written that
 * starts the moment its creator lets go gets its pending line before its
 * active one.
 *
 * Why a reader waiting at the end is not answered at once: the change
 * comes from a commit callback, on the way to the replies that the
 * commit's writers wait for, and an answer per change costs the reader a
 * wakeup and filed a reply and the next read, for every line: a cat of
 * events beside one writer slowed its enqueue by about 9% that way.
 * Answered a millisecond later, the reader gets a burst of changes in one
 * answer and the writers' replies go out first; a millisecond is nothing
 * to someone watching a queue. With nobody waiting nothing is scheduled.
 */
void
events_change(const struct change *c)
{
	if (ev.nreaders == 0)
		return;
	if (c->kind == CH_REMOVED && c->prev == JOB_DRAFT)
		return;
	if (c->kind == CH_ACTIVE && c->submitted) {
		events_format(&(struct change){ .job = c->job,
		    .kind = CH_PENDING, .prev = JOB_DRAFT, .submitted = 1,
		    .time = c->time }, "pending");
		events_add(c->time);
	}
	events_format(c, watch_state(c->kind));
	events_add(c->time);
	if (!TAILQ_EMPTY(&ev.waiting) && ev.init &&
	    !uv_is_active((uv_handle_t *)&ev.batch))
		uv_timer_start(&ev.batch, events_batch, EVENTS_BATCH_MS, 0);
}

/* filed stops: every parked read gets end of file, and every poll wakes. */
void
events_stop(void)
{
	ev.stopped = 1;
	ev.stopped_at = uv_hrtime();
	if (ev.init)
		uv_timer_stop(&ev.batch);
	events_wake();
}

/*
 * The reads parked now; and, for EVENTS_LINGER after the stop, the
 * readers still open.
 *
 * Why the stop waits for readers: the end of file that events_stop()
 * gives makes them close events at once, and their close(2) (FLUSH,
 * then RELEASE) comes a moment later. Were filed to unmount before it
 * came, that close would fail with ECONNABORTED, and cat(1) exits 1 for
 * it. The shutdown does not unmount while a request is parked (loop.c
 * polls this count), so counting the open readers holds it until they
 * closed; a reader that keeps events open holds it for EVENTS_LINGER at
 * most.
 */
unsigned
events_parked(void)
{
	if (ev.stopped && ev.nreaders > 0 &&
	    uv_hrtime() - ev.stopped_at < EVENTS_LINGER)
		return ev.parked + ev.nreaders;
	return ev.parked;
}
