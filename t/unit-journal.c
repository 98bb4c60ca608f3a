/*
 * unit-journal.c: unit tests for the record codec (rec.c) and the journal
 * (journal.c): CRC-32C, escaping, strict parsing, replay with torn-tail
 * repair and refusal of real damage, group commit through a real libuv
 * loop, including a short write, a failed write and a failed fdatasync
 * (each cut back before it is answered), and compaction: by itself, with
 * appends going on, crashes at each of its steps, and its failure.
 * Files live in a mkdtemp directory under /tmp that is removed at the end.
 */

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"
#include "tap.h"

/* From rec.c, for comparing the software and hardware paths. */
uint32_t	 crc32c_sw(uint32_t, const void *, size_t);
int		 crc32c_hw_available(void);

#define NREC		100

/* What replay handed to the apply callback. */
struct seen {
	int		 n;
	uint64_t	 first_seq;
	uint64_t	 last_seq;
	int		 bad;		/* out of order or wrong values */
	uint64_t	 refuse_seq;	/* refuse this one (0: none) */
	struct buf	*want;		/* expected text of id i (or NULL) */
	int		 nwant;
};

/* What the commit callbacks saw. */
struct done {
	int		 n;
	int		 next_id;	/* the id the next callback must have */
	int		 bad_order;
	int		 status[NREC * 2];
	uint64_t	 batch_seq[NREC * 2];
	int		 in_append;	/* set around journal_append */
	int		 sync_cb;	/* a callback ran inside append */
	struct journal	*j;
	int		 chain;		/* append this many more from cbs */
};

/* One commit callback's argument. */
struct item {
	struct done	*d;
	int		 id;
};

static char	 tmpdir[] = "/tmp/unit-journal.XXXXXX";
static char	 jpath[PATH_MAX];
static uint32_t	 rng = 12345;

static uint32_t	 ref_crc32c(uint32_t, const void *, size_t);
static uint32_t	 rnd(void);
static char	*slurp(const char *, size_t *);
static void	 spew(const char *, const void *, size_t);
static off_t	 fsize(const char *);
static char	*copy_line(const char *, size_t);
static void	 make_text(struct buf *, int);
static void	 make_body(struct buf *, int, const struct buf *);
static int	 apply_seen(void *, struct rec *, const char **);
static struct journal *replay(size_t, struct seen *, char **);
static void	 done_cb(void *, int);
static void	 append_item(struct journal *, struct done *, int,
		     const struct buf *);
static int	 find_fd(const char *);
static int	 flaky_fdatasync(int);
static void	 flaky_fail(int);
static int	 parse_raw(const char *, uint64_t, const char **);
static void	 write_seqs(const uint64_t *, int, size_t *);
static void	 test_crc(void);
static void	 test_escape(void);
static void	 test_parse(void);
static void	 test_get(void);
static void	 test_create(void);
static void	 test_append(struct buf *);
static void	 test_lazy_cork(struct buf *);
static void	 test_truncate(struct buf *);
static void	 test_corrupt(struct buf *);
static void	 test_huge(void);
static void	 test_header(void);
static void	 test_apply_refuse(void);
static void	 test_seq(void);
static void	 test_max_line(void);
static void	 test_write_error(void);
static void	 test_sync_error(void);

/*
 * The I/O seam with one fault: the real system calls, except that the
 * fdatasync of one descriptor fails with EIO, as on a disk that lost the
 * batch's pages; the bytes written stay in the file, and truncating and
 * fsyncing it work.
 */
static int	 flaky_fd = -1;
static struct io_ops flaky_ops;

/* Bit-at-a-time CRC-32C, the reference the fast paths are checked against. */
static uint32_t
ref_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	int			 k;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78U : crc >> 1;
	}
	return ~crc;
}

/* A small deterministic pseudo-random generator. */
static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Read a whole file (test files are small, except where noted). */
static char *
slurp(const char *path, size_t *lenp)
{
	struct buf	b;
	char		tmp[65536];
	ssize_t		n;
	int		fd;

	buf_init(&b);
	if ((fd = open(path, O_RDONLY)) == -1)
		fatal("open %s", path);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(&b, tmp, (size_t)n);
	close(fd);
	buf_reserve(&b, 0);
	*lenp = b.len;
	return b.data;
}

/* Replace a file's contents. */
static void
spew(const char *path, const void *data, size_t len)
{
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		fatal("open %s", path);
	if (len != 0 && write(fd, data, len) != (ssize_t)len)
		fatal("write %s", path);
	close(fd);
}

/* Return a file's size, or -1. */
static off_t
fsize(const char *path)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return -1;
	return st.st_size;
}

/* Copy len bytes into exactly len bytes of heap, so ASan sees overreads. */
static char *
copy_line(const char *s, size_t len)
{
	char	*p = xmalloc(len);

	memcpy(p, s, len);
	return p;
}

/* The text of record i: binary, every byte value, varying length. */
static void
make_text(struct buf *b, int i)
{
	size_t	len = (size_t)(i * 37) % 300, k;

	buf_init(b);
	for (k = 0; k < len; k++)
		buf_addc(b, (char)((k * 7 + (size_t)i) & 0xff));
}

/* The body of record id with its text. */
static void
make_body(struct buf *b, int id, const struct buf *text)
{
	char	name[64];

	snprintf(name, sizeof name, "job %d", id);
	buf_reset(b);
	rec_begin(b, "new");
	rec_add_u64(b, "id", (uint64_t)id);
	rec_add_str(b, "name", name);
	rec_add_i64(b, "time", -(int64_t)id);
	rec_add(b, "text", text->data, text->len);
}

/* Replay callback: check records come in order with the expected values. */
static int
apply_seen(void *arg, struct rec *r, const char **why)
{
	struct seen	*s = arg;
	const char	*text, *name;
	char		 want_name[64];
	uint64_t	 id;
	int64_t		 t;
	size_t		 len;

	if (s->refuse_seq != 0 && r->seq == s->refuse_seq) {
		*why = "no such job";
		return -1;
	}
	if (s->n == 0)
		s->first_seq = r->seq;
	else if (r->seq != s->last_seq + 1)
		s->bad++;
	s->last_seq = r->seq;
	s->n++;
	if (s->want == NULL)
		return 0;

	if (strcmp(r->type, "new") != 0 || rec_get_u64(r, "id", &id) != 0 ||
	    rec_get_i64(r, "time", &t) != 0 || t != -(int64_t)id ||
	    (int)id >= s->nwant || id != r->seq) {
		s->bad++;
		return 0;
	}
	snprintf(want_name, sizeof want_name, "job %d", (int)id);
	name = rec_get(r, "name", NULL);
	text = rec_get(r, "text", &len);
	if (name == NULL || strcmp(name, want_name) != 0 || text == NULL ||
	    len != s->want[id].len || memcmp(text, s->want[id].data, len) != 0)
		s->bad++;
	return 0;
}

/* Open jpath with a fresh struct seen; return the journal or NULL. */
static struct journal *
replay(size_t max_line, struct seen *s, char **cause)
{
	struct buf	*want = s->want;
	int		 nwant = s->nwant;
	uint64_t	 refuse = s->refuse_seq;

	memset(s, 0, sizeof *s);
	s->want = want;
	s->nwant = nwant;
	s->refuse_seq = refuse;
	return journal_open(jpath, max_line, apply_seen, s, cause);
}

/* Commit callback: record the status, the order and the batch. */
static void
done_cb(void *arg, int status)
{
	struct item	*it = arg;
	struct done	*d = it->d;
	struct buf	 text, body;

	if (d->in_append)
		d->sync_cb++;
	if (it->id != d->next_id)
		d->bad_order++;
	d->next_id = it->id + 1;
	if (d->n < NREC * 2) {
		d->status[d->n] = status;
		d->batch_seq[d->n] = journal_next_seq(d->j);
	}
	d->n++;
	free(it);

	if (d->chain > 0) {
		/* Appends made from a callback must keep their order. */
		d->chain--;
		buf_init(&body);
		make_text(&text, 0);
		make_body(&body, 0, &text);
		append_item(d->j, d, -1, &body);
		buf_free(&text);
		buf_free(&body);
	}
}

/* Append body with a callback carrying id (-1: the next id to append). */
static void
append_item(struct journal *j, struct done *d, int id, const struct buf *body)
{
	static int	 next;
	struct item	*it = xmalloc(sizeof *it);

	if (id >= 0)
		next = id;
	it->d = d;
	it->id = next++;
	d->in_append = 1;
	journal_append(j, body->data, body->len, done_cb, it);
	d->in_append = 0;
}

/* Count the calls of a journal's lazy callback. */
static void
lazy_count(void *arg)
{
	(*(int *)arg)++;
}

/* Find the descriptor the journal writes to: the O_APPEND one on path. */
static int
find_fd(const char *path)
{
	char	 real[PATH_MAX], link[PATH_MAX], fdpath[64];
	ssize_t	 n;
	int	 fd, flags;

	if (realpath(path, real) == NULL)
		return -1;
	for (fd = 3; fd < 1024; fd++) {
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		if ((n = readlink(fdpath, link, sizeof link - 1)) == -1)
			continue;
		link[n] = '\0';
		flags = fcntl(fd, F_GETFL);
		if (strcmp(link, real) == 0 && flags != -1 &&
		    (flags & O_APPEND))
			return fd;
	}
	return -1;
}

/* fdatasync for the flaky seam: EIO on flaky_fd, else the real one. */
static int
flaky_fdatasync(int fd)
{
	if (fd == flaky_fd) {
		errno = EIO;
		return -1;
	}
	return io_real_ops()->fdatasync(fd);
}

/*
 * Make every fdatasync of fd fail from now on, or (-1) put the real system
 * calls back. Only while no journal I/O is in flight.
 */
static void
flaky_fail(int fd)
{
	flaky_fd = fd;
	if (fd == -1) {
		io_set_ops(NULL);
		return;
	}
	flaky_ops = *io_real_ops();
	flaky_ops.fdatasync = flaky_fdatasync;
	io_set_ops(&flaky_ops);
}

/* CRC-32C: the known vector, chaining, and every path against the reference. */
static void
test_crc(void)
{
	unsigned char	 data[4096 + 8];
	size_t		 i, len, off;
	uint32_t	 whole;
	int		 bad = 0, badsw = 0, badhw = 0;

	is_int(crc32c(0, "123456789", 9), 0xe3069283, "crc32c known vector");
	is_int(crc32c_sw(0, "123456789", 9), 0xe3069283,
	    "crc32c software known vector");
	is_int(crc32c(0, "", 0), 0, "crc32c of nothing is 0");
	for (i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)rnd();

	whole = crc32c(0, data, 1000);
	for (i = 0; i <= 1000; i++) {
		if (crc32c(crc32c(0, data, i), data + i, 1000 - i) != whole)
			bad++;
	}
	ok(bad == 0, "crc32c chains at every split point");

	for (off = 0; off < 8; off++) {
		for (len = 0; len <= 300; len++) {
			uint32_t want = ref_crc32c(0, data + off, len);

			if (crc32c(0, data + off, len) != want)
				badhw++;
			if (crc32c_sw(0, data + off, len) != want)
				badsw++;
		}
	}
	ok(badsw == 0, "software crc32c matches the reference at all "
	    "lengths and alignments");
	ok(badhw == 0, "crc32c (%s) matches the reference at all lengths "
	    "and alignments", crc32c_hw_available() ? "sse4.2" : "software");
	bad = 0;
	for (i = 0; i < 200; i++) {
		len = rnd() % 4096;
		off = rnd() % 8;
		if (crc32c(i, data + off, len) != crc32c_sw(i, data + off, len))
			bad++;
	}
	ok(bad == 0, "hardware and software crc32c agree (hardware %s)",
	    crc32c_hw_available() ? "present" : "absent");
}

/* Escaping: exact spellings, every byte value, long values, empty values. */
static void
test_escape(void)
{
	struct buf	 body, line;
	struct rec	 r;
	const char	*why, *v;
	char		*copy, val[3], want[256];
	unsigned char	*big;
	size_t		 len, i, nsp;
	int		 c, bad = 0;

	buf_init(&body);
	buf_init(&line);
	rec_begin(&body, "text");
	rec_add(&body, "v", "a b\\c\n\t\r\x01\x7f\xff=", 12);
	rec_add_str(&body, "e", "");
	is_str(body.data, "text v=a\\sb\\\\c\\n\\t\\r\\x01\\x7f\xff= e=",
	    "escaped spelling");
	rec_frame(&line, 1, body.data, body.len);
	snprintf(want, sizeof want, "1 %s", body.data);
	snprintf(want + strlen(want), sizeof want - strlen(want), " %08x\n",
	    ref_crc32c(0, want, strlen(want)));
	is_str(line.data, want, "framed line, CRC by the bitwise reference");
	copy = copy_line(line.data, line.len - 1);
	ok(rec_parse(copy, line.len - 1, &r, &why) == 0 && r.seq == 1 &&
	    strcmp(r.type, "text") == 0 && r.nfields == 2 &&
	    (v = rec_get(&r, "v", &len)) != NULL && len == 12 &&
	    memcmp(v, "a b\\c\n\t\r\x01\x7f\xff=", 12) == 0 &&
	    (v = rec_get(&r, "e", &len)) != NULL && len == 0 && *v == '\0',
	    "parse of the framed line gives the values back");
	free(copy);

	for (c = 0; c < 256; c++) {
		val[0] = 'a';
		val[1] = (char)c;
		val[2] = 'b';
		buf_reset(&body);
		buf_reset(&line);
		rec_begin(&body, "t");
		rec_add(&body, "v", val, 3);
		rec_frame(&line, 7, body.data, body.len);
		nsp = 0;
		for (i = 0; i + 1 < line.len; i++) {
			unsigned char	u = (unsigned char)line.data[i];

			if (u < 0x20 || u == 0x7f)
				bad++;
			if (u == ' ')
				nsp++;
		}
		if (nsp != 3 || line.data[line.len - 1] != '\n')
			bad++;
		copy = copy_line(line.data, line.len - 1);
		if (rec_parse(copy, line.len - 1, &r, &why) != 0 ||
		    (v = rec_get(&r, "v", &len)) == NULL || len != 3 ||
		    memcmp(v, val, 3) != 0 || v[3] != '\0')
			bad++;
		free(copy);
	}
	ok(bad == 0, "every byte value 0..255 round-trips and stays on one "
	    "line");

	len = 1024 * 1024;
	big = xmalloc(len);
	for (i = 0; i < len; i++)
		big[i] = (unsigned char)(i < 256 * 16 ? i : rnd());
	buf_reset(&body);
	buf_reset(&line);
	rec_begin(&body, "new");
	rec_add(&body, "text", big, len);
	rec_add_u64(&body, "id", 42);
	rec_frame(&line, 123456789, body.data, body.len);
	copy = copy_line(line.data, line.len - 1);
	ok(rec_parse(copy, line.len - 1, &r, &why) == 0 &&
	    r.seq == 123456789 && (v = rec_get(&r, "text", &i)) != NULL &&
	    i == len && memcmp(v, big, len) == 0 &&
	    memchr(line.data, '\n', line.len - 1) == NULL,
	    "a 1 MiB binary value round-trips");
	free(copy);

	/* rec_parse_body on a buf (its NUL is the writable byte past len). */
	ok(rec_parse_body(body.data, body.len, &r, &why) == 0 && r.seq == 0 &&
	    strcmp(r.type, "new") == 0 && r.nfields == 2 &&
	    (v = rec_get(&r, "text", &i)) != NULL && i == len &&
	    memcmp(v, big, len) == 0 && rec_get(&r, "id", &i) != NULL &&
	    i == 2, "rec_parse_body gives the values back");
	free(big);

	buf_reset(&body);
	rec_begin(&body, "rm");
	ok(rec_parse_body(body.data, body.len, &r, &why) == 0 &&
	    strcmp(r.type, "rm") == 0 && r.nfields == 0,
	    "a body with no fields parses");
	buf_free(&body);
	buf_free(&line);
}

/* Frame a raw (maybe invalid) body and parse it; return rec_parse's result. */
static int
parse_raw(const char *raw, uint64_t seq, const char **why)
{
	struct buf	 line;
	struct rec	 r;
	char		*copy;
	int		 rv;

	buf_init(&line);
	rec_frame(&line, seq, raw, strlen(raw));
	copy = copy_line(line.data, line.len - 1);
	rv = rec_parse(copy, line.len - 1, &r, why);
	free(copy);
	buf_free(&line);
	return rv;
}

/* Parsing rejects every flipped bit, bad escapes and malformed lines. */
static void
test_parse(void)
{
	struct buf	 body, line;
	struct rec	 r;
	const char	*why;
	char		*copy, raw[512], seqline[64];
	size_t		 i, n;
	int		 b, bad = 0, k;

	buf_init(&body);
	buf_init(&line);
	rec_begin(&body, "new");
	rec_add_u64(&body, "id", 17);
	rec_add_str(&body, "name", "hello world");
	rec_add(&body, "text", "#!/bin/sh\necho \x01\n", 18);
	rec_frame(&line, 99, body.data, body.len);
	n = line.len - 1;
	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b++) {
			copy = copy_line(line.data, n);
			copy[i] ^= (char)(1 << b);
			if (rec_parse(copy, n, &r, &why) == 0)
				bad++;
			free(copy);
		}
	}
	ok(bad == 0, "a flipped bit anywhere in a line is rejected "
	    "(%zu bits)", n * 8);
	copy = copy_line(line.data, n);
	copy[5] ^= 1;
	ok(rec_parse(copy, n, &r, &why) == -1 &&
	    strcmp(why, "bad checksum") == 0, "reason is 'bad checksum'");
	free(copy);
	bad = 0;
	for (i = 0; i < n; i++) {
		copy = copy_line(line.data, i);
		if (rec_parse(copy, i, &r, &why) == 0)
			bad++;
		free(copy);
	}
	ok(bad == 0, "every truncation of a line is rejected");

	ok(parse_raw("t k=a\\q", 1, &why) == -1 &&
	    strcmp(why, "bad escape") == 0, "unknown escape rejected");
	ok(parse_raw("t k=a\\", 1, &why) == -1 &&
	    strcmp(why, "bad escape") == 0, "escape at end rejected");
	ok(parse_raw("t k=\\x4", 1, &why) == -1 &&
	    strcmp(why, "bad escape") == 0, "short \\x escape rejected");
	ok(parse_raw("t k=\\x4 j=1", 1, &why) == -1 &&
	    strcmp(why, "bad escape") == 0,
	    "\\x escape across a space rejected");
	ok(parse_raw("t k=\\xzz", 1, &why) == -1, "non-hex \\x rejected");
	ok(parse_raw("t k=\\xAB", 1, &why) == -1, "uppercase \\x rejected");
	ok(parse_raw("t k=a\tb", 1, &why) == -1, "raw tab in value rejected");
	ok(parse_raw("t k=a\x7f", 1, &why) == -1, "raw DEL in value rejected");
	ok(parse_raw("t k=v k=w", 1, &why) == -1 &&
	    strcmp(why, "duplicate field") == 0, "duplicate key rejected");
	ok(parse_raw("T k=v", 1, &why) == -1, "uppercase type rejected");
	ok(parse_raw(" k=v", 1, &why) == -1, "empty type rejected");
	ok(parse_raw("t K=v", 1, &why) == -1, "uppercase key rejected");
	ok(parse_raw("t k", 1, &why) == -1, "key without = rejected");
	ok(parse_raw("t =v", 1, &why) == -1, "empty key rejected");
	ok(parse_raw("t k=v ", 1, &why) == -1, "trailing space rejected");
	ok(parse_raw("t  k=v", 1, &why) == -1, "double space rejected");
	ok(parse_raw("t", 1, &why) == 0, "a type alone is a record");
	ok(parse_raw("t k=a=b", 1, &why) == 0, "'=' inside a value is fine");
	ok(parse_raw("t", 0, &why) == -1 &&
	    strcmp(why, "bad sequence number") == 0, "sequence 0 rejected");
	ok(parse_raw("t", UINT64_MAX, &why) == 0, "sequence 2^64-1 accepted");

	snprintf(seqline, sizeof seqline, "01 t");
	buf_reset(&line);
	buf_printf(&line, "%s %08x", seqline, crc32c(0, seqline, 4));
	copy = copy_line(line.data, line.len);
	ok(rec_parse(copy, line.len, &r, &why) == -1 &&
	    strcmp(why, "bad sequence number") == 0,
	    "leading zero in sequence rejected");
	free(copy);
	snprintf(seqline, sizeof seqline, "18446744073709551616 t");
	buf_reset(&line);
	buf_printf(&line, "%s %08x", seqline,
	    crc32c(0, seqline, strlen(seqline)));
	copy = copy_line(line.data, line.len);
	ok(rec_parse(copy, line.len, &r, &why) == -1 &&
	    strcmp(why, "bad sequence number") == 0,
	    "sequence overflow rejected");
	free(copy);
	buf_reset(&line);
	buf_printf(&line, "1 t %08X", crc32c(0, "1 t", 3));
	copy = copy_line(line.data, line.len);
	ok(rec_parse(copy, line.len, &r, &why) == -1,
	    "uppercase checksum rejected");
	free(copy);

	strcpy(raw, "t");
	for (k = 0; k < REC_MAXFIELDS; k++) {
		n = strlen(raw);
		snprintf(raw + n, sizeof raw - n, " k%c=%d", 'a' + k, k);
	}
	for (i = 0; raw[i] != '\0'; i++) {
		if (raw[i] == 'k' && raw[i + 1] != '=')
			raw[i] = 'f';
	}
	ok(parse_raw(raw, 1, &why) == 0, "%d fields accepted", REC_MAXFIELDS);
	n = strlen(raw);
	snprintf(raw + n, sizeof raw - n, " zz=1");
	ok(parse_raw(raw, 1, &why) == -1 &&
	    strcmp(why, "too many fields") == 0, "%d fields rejected",
	    REC_MAXFIELDS + 1);

	buf_free(&body);
	buf_free(&line);
}

/* rec_get_u64 and rec_get_i64: limits, garbage, missing keys. */
static void
test_get(void)
{
	struct buf	 body;
	struct rec	 r;
	const char	*why;
	uint64_t	 u;
	int64_t		 i;

	buf_init(&body);
	rec_begin(&body, "t");
	rec_add_str(&body, "umax", "18446744073709551615");
	rec_add_str(&body, "uover", "18446744073709551616");
	rec_add_str(&body, "uover_big", "99999999999999999999999");
	rec_add_str(&body, "empty", "");
	rec_add_str(&body, "junk", "12a");
	rec_add_str(&body, "neg", "-1");
	rec_add(&body, "nul", "1\0" "2", 3);
	rec_add_i64(&body, "imin", INT64_MIN);
	rec_add_i64(&body, "imax", INT64_MAX);
	rec_add_str(&body, "iover", "9223372036854775808");
	rec_add_str(&body, "iunder", "-9223372036854775809");
	rec_add_str(&body, "minus", "-");
	rec_add_u64(&body, "zero", 0);
	rec_add_str(&body, "plus", "+1");
	ok(rec_parse_body(body.data, body.len, &r, &why) == 0, "body parses");

	ok(rec_get_u64(&r, "umax", &u) == 0 && u == UINT64_MAX,
	    "u64 max accepted");
	ok(rec_get_u64(&r, "uover", &u) == -1, "u64 overflow rejected");
	ok(rec_get_u64(&r, "uover_big", &u) == -1, "u64 big overflow rejected");
	ok(rec_get_u64(&r, "empty", &u) == -1, "empty u64 rejected");
	ok(rec_get_u64(&r, "junk", &u) == -1, "u64 with junk rejected");
	ok(rec_get_u64(&r, "neg", &u) == -1, "negative u64 rejected");
	ok(rec_get_u64(&r, "nul", &u) == -1, "u64 with a NUL rejected");
	ok(rec_get_u64(&r, "plus", &u) == -1, "u64 with '+' rejected");
	ok(rec_get_u64(&r, "missing", &u) == -1, "missing u64 rejected");
	ok(rec_get_u64(&r, "zero", &u) == 0 && u == 0, "u64 zero");
	ok(rec_get_i64(&r, "imin", &i) == 0 && i == INT64_MIN,
	    "i64 min accepted");
	ok(rec_get_i64(&r, "imax", &i) == 0 && i == INT64_MAX,
	    "i64 max accepted");
	ok(rec_get_i64(&r, "neg", &i) == 0 && i == -1, "i64 -1");
	ok(rec_get_i64(&r, "iover", &i) == -1, "i64 overflow rejected");
	ok(rec_get_i64(&r, "iunder", &i) == -1, "i64 underflow rejected");
	ok(rec_get_i64(&r, "minus", &i) == -1, "lone '-' rejected");
	ok(rec_get_i64(&r, "empty", &i) == -1, "empty i64 rejected");
	ok(rec_get(&r, "missing", NULL) == NULL, "rec_get of a missing key");
	buf_free(&body);
}

/* A new journal is the header alone, mode 0600, and reopens empty. */
static void
test_create(void)
{
	struct journal	*j;
	struct seen	 s;
	struct stat	 st;
	char		*cause, *data, bad[PATH_MAX];
	size_t		 len;

	memset(&s, 0, sizeof s);
	unlink(jpath);
	j = journal_open(jpath, 4096, apply_seen, &s, &cause);
	ok(j != NULL && cause == NULL, "create a journal");
	ok(j != NULL && journal_next_seq(j) == 1 && journal_idle(j),
	    "new journal: next seq 1, idle");
	journal_close(j);
	data = slurp(jpath, &len);
	ok(len == 16 && memcmp(data, "filed-journal 3\n", 16) == 0,
	    "new journal holds the header only");
	free(data);
	ok(stat(jpath, &st) == 0 && (st.st_mode & 07777) == 0600,
	    "new journal has mode 0600");
	j = replay(4096, &s, &cause);
	ok(j != NULL && s.n == 0 && journal_next_seq(j) == 1,
	    "reopen: no records");
	journal_close(j);

	snprintf(bad, sizeof bad, "%s/nodir/journal", tmpdir);
	j = journal_open(bad, 4096, apply_seen, &s, &cause);
	ok(j == NULL && cause != NULL && strstr(cause, bad) == cause &&
	    strstr(cause, strerror(ENOENT)) != NULL,
	    "missing directory: cause names the file and the error");
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);
}

/*
 * Append NREC records in one loop turn through a real loop: every callback
 * gets 0, in order, and fewer batches than records go out; replay gives
 * them back. Then appends made from callbacks, and lone appends.
 */
static void
test_append(struct buf *texts)
{
	struct journal	*j;
	struct seen	 s;
	struct done	 d;
	struct buf	 body;
	uv_loop_t	 loop;
	char		*cause;
	int		 i, bad = 0, batches = 0;

	unlink(jpath);
	memset(&s, 0, sizeof s);
	j = journal_open(jpath, 1 << 20, apply_seen, &s, &cause);
	if (!ok(j != NULL, "open for appending"))
		return;
	uv_loop_init(&loop);
	journal_attach(j, &loop);

	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = 1;
	buf_init(&body);
	for (i = 1; i < NREC; i++) {
		make_body(&body, i, &texts[i]);
		append_item(j, &d, i, &body);
	}
	ok(!journal_idle(j), "journal busy after appends");
	ok(d.n == 0, "no callback before the loop runs");
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(journal_idle(j), "journal idle after the loop");
	is_int(d.n, NREC - 1, "every callback ran");
	for (i = 0; i < d.n && i < NREC * 2; i++) {
		if (d.status[i] != 0)
			bad++;
		if (i == 0 || d.batch_seq[i] != d.batch_seq[i - 1])
			batches++;
	}
	ok(bad == 0, "every callback got 0");
	ok(d.bad_order == 0, "callbacks ran in append order");
	ok(d.sync_cb == 0, "no callback ran inside journal_append");
	ok(batches > 0 && batches < NREC - 1,
	    "group commit: %d batches for %d records", batches, NREC - 1);
	is_int(journal_next_seq(j), NREC, "next seq after the appends");
	journal_close(j);

	s.want = texts;
	s.nwant = NREC;
	j = replay(1 << 20, &s, &cause);
	ok(j != NULL && s.n == NREC - 1 && s.first_seq == 1 &&
	    s.last_seq == NREC - 1 && s.bad == 0,
	    "replay gives every record back in order with its values");
	is_int(j != NULL ? journal_next_seq(j) : 0, NREC,
	    "next seq after replay");

	/* Lone records go out at once, each in its own batch. */
	journal_attach(j, &loop);
	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = NREC;
	make_body(&body, NREC, &texts[0]);
	append_item(j, &d, NREC, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 1 && d.status[0] == 0 && d.batch_seq[0] == NREC + 1,
	    "a lone record is committed by itself");

	/* Appends from callbacks queue behind earlier ones. */
	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = NREC + 1;
	d.chain = 5;
	for (i = 0; i < 3; i++) {
		make_body(&body, NREC + 1 + i, &texts[0]);
		append_item(j, &d, i == 0 ? NREC + 1 : -1, &body);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 8 && d.bad_order == 0 && d.sync_cb == 0 &&
	    d.status[7] == 0, "appends from callbacks keep their order");
	is_int(journal_next_seq(j), NREC + 9, "next seq after chained appends");
	journal_close(j);
	uv_loop_close(&loop);
	buf_free(&body);

	s.want = NULL;
	j = replay(1 << 20, &s, &cause);
	ok(j != NULL && s.n == NREC + 8 && s.bad == 0 &&
	    s.last_seq == NREC + 8, "replay after more appends");
	journal_close(j);
}

/*
 * Lazy records start no batch by themselves: they wait for the lazy
 * callback's push or for an eager record, and then share its batch. A
 * corked journal starts no batch until uncorked, then one for all.
 */
static void
test_lazy_cork(struct buf *texts)
{
	struct journal	*j;
	struct seen	 s;
	struct done	 d;
	struct item	*it;
	struct buf	 body;
	uv_loop_t	 loop;
	char		*cause;
	int		 i, lazy = 0;

	unlink(jpath);
	memset(&s, 0, sizeof s);
	j = journal_open(jpath, 1 << 20, apply_seen, &s, &cause);
	if (!ok(j != NULL, "open for lazy appends"))
		return;
	uv_loop_init(&loop);
	journal_attach(j, &loop);
	journal_set_lazy(j, lazy_count, &lazy);
	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = 1;
	buf_init(&body);

	make_body(&body, 1, &texts[1]);
	it = xmalloc(sizeof *it);
	it->d = &d;
	it->id = 1;
	journal_append_lazy(j, body.data, body.len, done_cb, it);
	uv_run(&loop, UV_RUN_NOWAIT);
	ok(d.n == 0 && !journal_idle(j) && lazy == 1,
	    "a lazy record waits, and the lazy callback is called");
	journal_push(j);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 1 && d.status[0] == 0 && journal_idle(j),
	    "a push commits it");

	make_body(&body, 2, &texts[2]);
	it = xmalloc(sizeof *it);
	it->d = &d;
	it->id = 2;
	journal_append_lazy(j, body.data, body.len, done_cb, it);
	make_body(&body, 3, &texts[3]);
	append_item(j, &d, 3, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 3 && d.status[1] == 0 && d.status[2] == 0 &&
	    d.batch_seq[1] == d.batch_seq[2] && d.bad_order == 0,
	    "an eager record takes the lazy one along, in order");

	journal_cork(j);
	for (i = 4; i < 8; i++) {
		make_body(&body, i, &texts[i]);
		append_item(j, &d, i, &body);
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	ok(d.n == 3, "a corked journal starts no batch");
	journal_uncork(j);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 7 && d.batch_seq[3] == d.batch_seq[6] && d.bad_order == 0,
	    "uncorked, the records go out as one batch");
	is_int(journal_next_seq(j), 8, "next seq after lazy and corked");
	journal_close(j);
	uv_loop_close(&loop);
	buf_free(&body);

	s.want = texts;
	s.nwant = 8;
	j = replay(1 << 20, &s, &cause);
	ok(j != NULL && s.n == 7 && s.bad == 0, "replay gives all 7 back");
	if (j != NULL)
		journal_close(j);
}

/*
 * Cut the journal at every byte offset within its last 3 records: replay
 * gives exactly the whole records before the cut and the file ends after
 * the last of them.
 */
static void
test_truncate(struct buf *texts)
{
	struct journal	*j;
	struct seen	 s;
	char		*data, *cause;
	size_t		 len, i, start, c, nl, end;
	int		 lines, bad = 0, tries = 0;

	data = slurp(jpath, &len);
	lines = 0;
	start = 0;
	for (i = len - 1; i > 0; i--) {
		if (data[i - 1] == '\n' && ++lines == 3) {
			start = i;
			break;
		}
	}
	memset(&s, 0, sizeof s);
	for (c = start; c <= len; c++) {
		spew(jpath, data, c);
		nl = 0;
		end = 0;
		for (i = 0; i < c; i++) {
			if (data[i] == '\n') {
				nl++;
				end = i + 1;
			}
		}
		j = replay(1 << 20, &s, &cause);
		tries++;
		if (j == NULL || s.n != (int)nl - 1 || s.bad != 0 ||
		    fsize(jpath) != (off_t)end ||
		    journal_next_seq(j) != (uint64_t)nl) {
			bad++;
			printf("# cut at %zu: %s n=%d\n", c,
			    cause ? cause : "", s.n);
		}
		journal_close(j);
		free(cause);
	}
	ok(bad == 0 && tries > 30, "cut at each of %d offsets in the last 3 "
	    "records: whole records kept, tail cut", tries);
	spew(jpath, data, len);
	free(data);
	(void)texts;
}

/*
 * Damage: a flipped bit in a middle record refuses (naming line and offset,
 * file unchanged); in the last record it is cut; so is a missing newline.
 */
static void
test_corrupt(struct buf *texts)
{
	struct journal	*j;
	struct seen	 s;
	char		*data, *after, *cause, want[PATH_MAX + 64];
	size_t		 len, alen, i, mstart = 0, mend = 0, lstart = 0;
	int		 line = 0, mline = 0, b, bad = 0, badmsg = 0;

	(void)texts;
	data = slurp(jpath, &len);
	for (i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		line++;
		if (line == 50) {
			mstart = i + 1;
			mline = line + 1;
		}
		if (line == 51)
			mend = i + 1;
		if (i + 1 < len)
			lstart = i + 1;
	}
	snprintf(want, sizeof want, "%s:%d: offset %zu: ", jpath, mline,
	    mstart);

	memset(&s, 0, sizeof s);
	for (i = mstart; i < mend; i++) {
		for (b = 0; b < 8; b++) {
			data[i] ^= (char)(1 << b);
			spew(jpath, data, len);
			data[i] ^= (char)(1 << b);
			j = replay(1 << 20, &s, &cause);
			if (j != NULL) {
				bad++;
				journal_close(j);
				continue;
			}
			if (strncmp(cause, want, strlen(want)) != 0 ||
			    strstr(cause, "; valid records follow, refusing "
			    "to start") == NULL)
				badmsg++;
			if (i == mstart && b == 0)
				printf("# %s\n", cause);
			free(cause);
			after = slurp(jpath, &alen);
			data[i] ^= (char)(1 << b);
			if (alen != len || memcmp(after, data, len) != 0)
				bad++;
			data[i] ^= (char)(1 << b);
			free(after);
		}
	}
	ok(bad == 0, "a flipped bit in a middle record refuses to start and "
	    "leaves the file alone (%zu bits)", (mend - mstart) * 8);
	ok(badmsg == 0, "the cause names file, line %d and offset %zu", mline,
	    mstart);

	bad = 0;
	for (i = lstart; i < len; i++) {
		for (b = 0; b < 8; b++) {
			data[i] ^= (char)(1 << b);
			spew(jpath, data, len);
			data[i] ^= (char)(1 << b);
			j = replay(1 << 20, &s, &cause);
			if (j == NULL || fsize(jpath) != (off_t)lstart ||
			    s.n != line - 2)
				bad++;
			journal_close(j);
			free(cause);
		}
	}
	ok(bad == 0, "a flipped bit in the last record cuts it (%zu bits)",
	    (len - lstart) * 8);

	spew(jpath, data, len - 1);
	j = replay(1 << 20, &s, &cause);
	ok(j != NULL && fsize(jpath) == (off_t)lstart && s.n == line - 2,
	    "a last line without its newline is cut");
	journal_close(j);

	spew(jpath, data, len);
	free(data);
}

/*
 * A 100 MB line of garbage at the tail is cut without being read into
 * memory; a long garbage line in the middle refuses.
 */
static void
test_huge(void)
{
	struct journal	*j;
	struct seen	 s;
	struct rusage	 ru0, ru1;
	struct buf	 b;
	char		*data, *cause, *junk;
	size_t		 len;
	off_t		 big = 100 * 1024 * 1024;
	int		 fd;

	data = slurp(jpath, &len);
	memset(&s, 0, sizeof s);
	if ((fd = open(jpath, O_WRONLY)) == -1 ||
	    ftruncate(fd, (off_t)len + big) == -1)
		fatal("extend %s", jpath);
	close(fd);
	getrusage(RUSAGE_SELF, &ru0);
	j = replay(4096, &s, &cause);
	getrusage(RUSAGE_SELF, &ru1);
	ok(j != NULL && fsize(jpath) == (off_t)len && s.n > 0 && s.bad == 0,
	    "a 100 MB garbage tail is cut");
	if (cause != NULL)
		printf("# %s\n", cause);
	ok(ru1.ru_maxrss - ru0.ru_maxrss < 32 * 1024,
	    "... without reading it into memory (peak RSS grew %ld KiB)",
	    ru1.ru_maxrss - ru0.ru_maxrss);
	journal_close(j);
	free(cause);

	/* Long junk, then a valid record: refuse. */
	buf_init(&b);
	buf_add(&b, data, len);
	junk = xmalloc(1 << 20);
	memset(junk, 'x', 1 << 20);
	buf_add(&b, junk, 1 << 20);
	buf_addc(&b, '\n');
	rec_frame(&b, 1000, "rm id=1", 7);
	spew(jpath, b.data, b.len);
	j = replay(4096, &s, &cause);
	ok(j == NULL && cause != NULL &&
	    strstr(cause, "line longer than 4096 bytes; valid records "
	    "follow") != NULL && fsize(jpath) == (off_t)b.len,
	    "a long garbage line before a valid record refuses to start");
	if (cause != NULL)
		printf("# %s\n", cause);
	journal_close(j);
	free(cause);
	free(junk);
	buf_free(&b);

	spew(jpath, data, len);
	free(data);
}

/* Other versions and other files refuse; a partial header is redone. */
static void
test_header(void)
{
	struct journal	*j;
	struct seen	 s;
	struct buf	 b;
	char		*cause, *data, want[PATH_MAX + 64];
	unsigned char	 bin[1000];
	size_t		 len, i;

	memset(&s, 0, sizeof s);
	spew(jpath, "filed-journal 9\n1 x 00000000\n", 29);
	j = replay(4096, &s, &cause);
	snprintf(want, sizeof want,
	    "%s: journal format version 9 is not supported", jpath);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "version 9 refused");
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);

	snprintf(want, sizeof want, "%s: not a filed journal", jpath);
	spew(jpath, "hello world\n", 12);
	j = replay(4096, &s, &cause);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "another file refused");
	free(cause);
	spew(jpath, "filed-journal 1 \n", 17);
	j = replay(4096, &s, &cause);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "header with trailing space refused");
	free(cause);
	for (i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(rnd() | 1);
	bin[0] = 'f';
	for (i = 0; i < sizeof bin; i++) {
		if (bin[i] == '\n')
			bin[i] = 'n';
	}
	spew(jpath, bin, sizeof bin);
	j = replay(100, &s, &cause);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "binary file refused");
	free(cause);
	ok((data = slurp(jpath, &len)) != NULL && len == sizeof bin,
	    "refused file left alone");
	free(data);

	spew(jpath, "", 0);
	j = replay(4096, &s, &cause);
	data = slurp(jpath, &len);
	ok(j != NULL && s.n == 0 && len == 16 &&
	    memcmp(data, "filed-journal 3\n", 16) == 0,
	    "empty file becomes a fresh journal");
	journal_close(j);
	free(data);

	spew(jpath, "filed-jou", 9);
	j = replay(4096, &s, &cause);
	data = slurp(jpath, &len);
	ok(j != NULL && s.n == 0 && len == 16 &&
	    memcmp(data, "filed-journal 3\n", 16) == 0 &&
	    journal_next_seq(j) == 1, "partial header becomes a fresh journal");
	journal_close(j);
	free(data);

	spew(jpath, "filed-journal 1", 15);
	j = replay(4096, &s, &cause);
	data = slurp(jpath, &len);
	ok(j != NULL && len == 16 && memcmp(data, "filed-journal 3\n", 16) == 0,
	    "header without newline becomes a fresh journal");
	journal_close(j);
	free(data);

	spew(jpath, "filed-journal 4\n", 16);
	j = replay(4096, &s, &cause);
	ok(j == NULL && cause != NULL &&
	    strstr(cause, "journal format version 4 is not supported") != NULL,
	    "a later version is refused");
	free(cause);

	buf_init(&b);
	buf_adds(&b, "filed-journal 1\n");
	rec_frame(&b, 1, "rm id=1", 7);
	spew(jpath, b.data, b.len);
	j = replay(4096, &s, &cause);
	data = slurp(jpath, &len);
	ok(j != NULL && s.n == 1 && len == b.len &&
	    memcmp(data, "filed-journal 3\n", 16) == 0 &&
	    memcmp(data + 16, b.data + 16, b.len - 16) == 0,
	    "version 1 is replayed, and upgraded to 3 in place");
	journal_close(j);
	free(data);
	buf_free(&b);

	buf_init(&b);
	buf_adds(&b, "filed-journal 2\n");
	rec_frame(&b, 1, "rm id=1", 7);
	spew(jpath, b.data, b.len);
	j = replay(4096, &s, &cause);
	data = slurp(jpath, &len);
	ok(j != NULL && s.n == 1 && len == b.len &&
	    memcmp(data, "filed-journal 3\n", 16) == 0 &&
	    memcmp(data + 16, b.data + 16, b.len - 16) == 0,
	    "version 2 is replayed, and upgraded to 3 in place");
	journal_close(j);
	free(data);
	buf_free(&b);
}

/* Build a journal from raw sequence numbers. */
static void
write_seqs(const uint64_t *seqs, int n, size_t *offs)
{
	struct buf	b;
	int		i;

	buf_init(&b);
	buf_adds(&b, "filed-journal 1\n");
	for (i = 0; i < n; i++) {
		if (offs != NULL)
			offs[i] = b.len;
		rec_frame(&b, seqs[i], "rm id=1", 7);
	}
	spew(jpath, b.data, b.len);
	buf_free(&b);
}

/* apply returning -1 refuses with the line and offset of the record. */
static void
test_apply_refuse(void)
{
	struct journal	*j;
	struct seen	 s;
	uint64_t	 seqs[] = { 1, 2, 3, 4, 5 };
	size_t		 offs[5];
	char		*cause, want[PATH_MAX + 64];

	write_seqs(seqs, 5, offs);
	memset(&s, 0, sizeof s);
	s.refuse_seq = 3;
	j = replay(4096, &s, &cause);
	snprintf(want, sizeof want, "%s:4: offset %zu: no such job", jpath,
	    offs[2]);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "apply refusing a record names its line and offset");
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);
	s.refuse_seq = 0;
}

/* Sequence numbers: gaps and repeats are damage; any first seq is fine. */
static void
test_seq(void)
{
	struct journal	*j;
	struct seen	 s;
	uint64_t	 gap[] = { 1, 2, 3, 5, 6 };
	uint64_t	 rep[] = { 1, 2, 2, 3 };
	uint64_t	 late[] = { 7, 8, 9 };
	size_t		 offs[5];
	char		*cause, want[PATH_MAX + 128];

	memset(&s, 0, sizeof s);
	write_seqs(gap, 5, offs);
	j = replay(4096, &s, &cause);
	snprintf(want, sizeof want, "%s:5: offset %zu: sequence 5 after 3; "
	    "valid records follow, refusing to start", jpath, offs[3]);
	ok(j == NULL && cause != NULL && strcmp(cause, want) == 0,
	    "a sequence gap refuses to start");
	if (cause != NULL)
		printf("# %s\n", cause);
	free(cause);

	write_seqs(rep, 4, offs);
	j = replay(4096, &s, &cause);
	ok(j == NULL && cause != NULL &&
	    strstr(cause, "sequence 2 after 2; valid") != NULL,
	    "a repeated sequence number refuses to start");
	free(cause);

	write_seqs(gap, 4, offs);
	j = replay(4096, &s, &cause);
	ok(j != NULL && s.n == 3 && fsize(jpath) == (off_t)offs[3] &&
	    journal_next_seq(j) == 4, "a wrong sequence number at the end is "
	    "cut");
	journal_close(j);

	write_seqs(late, 3, offs);
	j = replay(4096, &s, &cause);
	ok(j != NULL && s.n == 3 && s.first_seq == 7 &&
	    journal_next_seq(j) == 10, "the first record may have any seq");
	journal_close(j);
}

/* A line of exactly max_line bytes is fine; a longer record gets -EFBIG. */
static void
test_max_line(void)
{
	struct journal	*j;
	struct seen	 s;
	struct done	 d;
	struct buf	 body, line;
	uv_loop_t	 loop;
	char		*cause, *pad;
	size_t		 maxl = 200, padlen;

	unlink(jpath);
	memset(&s, 0, sizeof s);
	j = replay(maxl, &s, &cause);
	uv_loop_init(&loop);
	journal_attach(j, &loop);
	buf_init(&body);
	buf_init(&line);
	/* "1 t v=PAD CRC": 2 + 2 + 2 + padlen + 9 */
	padlen = maxl - 15;
	pad = xmalloc(padlen + 1);
	memset(pad, 'p', padlen + 1);
	rec_begin(&body, "t");
	rec_add(&body, "v", pad, padlen);
	rec_frame(&line, 1, body.data, body.len);
	ok(line.len == maxl + 1, "test line is max_line bytes");

	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = 1;
	append_item(j, &d, 1, &body);
	buf_reset(&body);
	rec_begin(&body, "t");
	rec_add(&body, "v", pad, padlen + 1);
	append_item(j, &d, -1, &body);
	append_item(j, &d, -1, &body);
	buf_reset(&body);
	rec_begin(&body, "t");
	append_item(j, &d, -1, &body);
	ok(d.sync_cb == 0, "-EFBIG not given inside journal_append");
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 4 && d.bad_order == 0 && d.status[0] == 0 &&
	    d.status[1] == -EFBIG && d.status[2] == -EFBIG && d.status[3] == 0,
	    "a record over max_line gets -EFBIG, the others commit");
	is_int(journal_next_seq(j), 3, "refused records take no seq");
	journal_close(j);

	j = replay(maxl, &s, &cause);
	ok(j != NULL && s.n == 2 && s.bad == 0,
	    "a line of exactly max_line bytes replays");
	journal_close(j);
	j = replay(maxl - 1, &s, &cause);
	ok(j == NULL && cause != NULL &&
	    strstr(cause, ":2: offset 16: line longer than 199 bytes; valid "
	    "records follow") != NULL, "with a smaller max_line it is damage");
	free(cause);

	uv_loop_close(&loop);
	free(pad);
	buf_free(&body);
	buf_free(&line);
}

/*
 * A short write (the file size limit cut it) gets -ENOSPC, a write that
 * wrote nothing gets its errno; both leave the file as it was and later
 * records take the seqs the failed ones did not.
 */
static void
test_write_error(void)
{
	struct journal	*j;
	struct seen	 s;
	struct done	 d;
	struct buf	 body, text;
	struct rlimit	 rl0, rl;
	uv_loop_t	 loop;
	char		*cause;
	off_t		 size, short_size, fail_size;
	int		 i, short_ok, fail_ok;

	unlink(jpath);
	memset(&s, 0, sizeof s);
	j = replay(1 << 20, &s, &cause);
	uv_loop_init(&loop);
	journal_attach(j, &loop);
	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = 1;
	buf_init(&body);
	make_text(&text, 5);
	make_body(&body, 1, &text);
	for (i = 0; i < 3; i++)
		append_item(j, &d, i == 0 ? 1 : -1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	size = fsize(jpath);
	ok(d.n == 3 && d.status[2] == 0 && journal_next_seq(j) == 4,
	    "three records committed");

	/*
	 * The limit applies to every file this process writes, stdout and
	 * stderr included: print nothing until it is lifted.
	 */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &rl0);
	rl = rl0;
	rl.rlim_cur = (rlim_t)size + 10;
	fflush(stdout);
	setrlimit(RLIMIT_FSIZE, &rl);
	append_item(j, &d, -1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	short_ok = d.n == 4 && d.status[3] == -ENOSPC;
	short_size = fsize(jpath);

	rl.rlim_cur = (rlim_t)size;
	setrlimit(RLIMIT_FSIZE, &rl);
	for (i = 0; i < 3; i++)
		append_item(j, &d, -1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	fail_ok = d.n == 7 && d.status[4] == -EFBIG &&
	    d.status[5] == -EFBIG && d.status[6] == -EFBIG;
	fail_size = fsize(jpath);
	setrlimit(RLIMIT_FSIZE, &rl0);
	signal(SIGXFSZ, SIG_DFL);

	ok(short_ok, "a short write gets -ENOSPC");
	is_int(short_size, size, "the short write is cut back");
	ok(fail_ok, "a failed write gives its errno to its batch");
	is_int(fail_size, size, "the file is unchanged");

	append_item(j, &d, -1, &body);
	append_item(j, &d, -1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 9 && d.status[7] == 0 && d.status[8] == 0 &&
	    d.bad_order == 0 && journal_next_seq(j) == 6,
	    "after the disk frees up, records commit with the next seqs");
	journal_close(j);
	uv_loop_close(&loop);

	j = replay(1 << 20, &s, &cause);
	ok(j != NULL && s.n == 5 && s.first_seq == 1 && s.last_seq == 5 &&
	    s.bad == 0, "replay after write errors finds no damage");
	journal_close(j);
	buf_free(&body);
	buf_free(&text);
}

/*
 * A failed fdatasync (through the flaky seam) gets -EIO once the batch
 * has been cut back out of the file, and every later append gets -EIO
 * from the loop without touching the file.
 */
static void
test_sync_error(void)
{
	struct journal	*j;
	struct seen	 s;
	struct done	 d;
	struct buf	 body;
	uv_loop_t	 loop;
	char		*cause, *before, *after;
	size_t		 blen, alen;
	int		 fd, i;

	unlink(jpath);
	memset(&s, 0, sizeof s);
	j = replay(4096, &s, &cause);
	uv_loop_init(&loop);
	journal_attach(j, &loop);
	before = slurp(jpath, &blen);
	fd = find_fd(jpath);
	if (!ok(fd != -1, "find the journal's descriptor")) {
		journal_close(j);
		return;
	}
	flaky_fail(fd);
	memset(&d, 0, sizeof d);
	d.j = j;
	d.next_id = 1;
	buf_init(&body);
	rec_begin(&body, "rm");
	rec_add_u64(&body, "id", 1);
	append_item(j, &d, 1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 1 && d.status[0] == -EIO, "a failed fdatasync gets -EIO");
	ok(fsize(jpath) == (off_t)blen && journal_broken(j),
	    "the batch was cut out of the file; the journal is broken");
	for (i = 0; i < 3; i++)
		append_item(j, &d, -1, &body);
	ok(d.sync_cb == 0 && d.n == 1, "no callback inside journal_append");
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 4 && d.status[1] == -EIO && d.status[3] == -EIO &&
	    d.bad_order == 0, "after it every append gets -EIO");
	append_item(j, &d, -1, &body);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(d.n == 5 && d.status[4] == -EIO, "and so does a later lone one");
	ok(journal_idle(j) && journal_next_seq(j) == 1,
	    "nothing counted as committed");
	journal_close(j);
	flaky_fail(-1);
	uv_loop_close(&loop);
	after = slurp(jpath, &alen);
	ok(alen == blen && memcmp(before, after, blen) == 0,
	    "the file is as it was before the failed batch");
	free(before);
	free(after);
	buf_free(&body);
}

/*
 * Compaction. The journal's user is played by a key-value store: "set k=K
 * v=V" and "del k=K" records, applied to the committed state by the commit
 * callbacks (as queue.c does), and a snapshot callback that writes a "set"
 * record for every live key. Random operations touch keys below KV_RAND;
 * the keys above are set once each by the appends made at awkward moments,
 * so that each of them can be looked for after a reopen.
 */
#define KV_NKEY		128
#define KV_RAND		48

/* A key-value state: the committed one, or one rebuilt by replay. */
struct kv {
	char		*val[KV_NKEY];	/* NULL: no such key */
	uint64_t	 last_seq;
	int		 n;		/* records applied */
	int		 bad;		/* seq gap or a bad record */
};

/* The store and what its commit callbacks saw. */
struct kvt {
	struct journal	*j;
	uv_loop_t	 loop;
	struct kv	 state;		/* committed */
	int		 next_id;	/* id of the next append */
	int		 want_id;	/* id the next callback must have */
	int		 ndone;
	int		 nfail;		/* callbacks with an error */
	int		 bad_order;
	int		 in_append;
	int		 sync_cb;	/* callbacks inside journal_append */
	int		 chain;		/* appends to make from callbacks */
	int		 special;	/* next key above KV_RAND */
};

/* One append's callback argument. */
struct kvop {
	struct kvt	*t;
	int		 id;
	int		 key;
	char		*val;		/* NULL: del */
};

/* What the compaction hook does and has seen. */
struct hookst {
	struct kvt	*t;
	int		 steps[5];	/* snapshot tail renamed done failed */
	int		 append;	/* append at snapshot, tail, renamed */
	int		 copy;		/* copy the files at every step */
	struct kv	 saved[4];	/* the committed state at each step */
	int		 had_new[4];	/* PATH.new was there */
	uint64_t	 base;		/* largest size after a compaction */
};

static const char *const hook_steps[] = {
	"snapshot", "tail", "renamed", "done", "failed"
};
static struct hookst	*hookst;

/* From journal.c, not in filed.h. */
extern void	(*journal_compact_hook)(struct journal *, const char *);

static void	 kv_free(struct kv *);
static void	 kv_copy(struct kv *, const struct kv *);
static int	 kv_equal(const struct kv *, const struct kv *);
static int	 kv_live(const struct kv *);
static void	 kv_set(struct kv *, int, const char *);
static int	 kv_apply(void *, struct rec *, const char **);
static void	 kv_snapshot(void *, struct buf *);
static void	 kv_body(struct buf *, int, const char *);
static void	 kv_done(void *, int);
static void	 kv_append(struct kvt *, int, const char *);
static void	 kv_random(struct kvt *, int);
static void	 kv_special(struct kvt *, const char *);
static int	 kvt_open(struct kvt *, int);
static void	 kvt_close(struct kvt *);
static int	 kv_reopen(struct kv *, char **);
static void	 jpath_with(char *, const char *, const char *);
static void	 copy_file(const char *, const char *, off_t);
static int	 count_fds(int *);
static void	 compact_hook(struct journal *, const char *);
static void	 test_compact_auto(void);
static void	 test_compact_busy(void);
static void	 test_compact_crash(void);
static void	 test_compact_error(void);

/* Free a state's values. */
static void
kv_free(struct kv *kv)
{
	int	i;

	for (i = 0; i < KV_NKEY; i++) {
		free(kv->val[i]);
		kv->val[i] = NULL;
	}
}

/* Make dst (empty or freed) a copy of src. */
static void
kv_copy(struct kv *dst, const struct kv *src)
{
	int	i;

	memset(dst, 0, sizeof *dst);
	for (i = 0; i < KV_NKEY; i++) {
		if (src->val[i] != NULL)
			dst->val[i] = xstrdup(src->val[i]);
	}
}

/* Return 1 if two states hold the same keys and values. */
static int
kv_equal(const struct kv *a, const struct kv *b)
{
	int	i;

	for (i = 0; i < KV_NKEY; i++) {
		if ((a->val[i] == NULL) != (b->val[i] == NULL))
			return 0;
		if (a->val[i] != NULL && strcmp(a->val[i], b->val[i]) != 0)
			return 0;
	}
	return 1;
}

/* Return the number of live keys. */
static int
kv_live(const struct kv *kv)
{
	int	i, n = 0;

	for (i = 0; i < KV_NKEY; i++)
		n += kv->val[i] != NULL;
	return n;
}

/* Set (val) or delete (NULL) a key. */
static void
kv_set(struct kv *kv, int key, const char *val)
{
	free(kv->val[key]);
	kv->val[key] = val != NULL ? xstrdup(val) : NULL;
}

/* Replay callback: apply a record, checking the seqs run from 1. */
static int
kv_apply(void *arg, struct rec *r, const char **why)
{
	struct kv	*kv = arg;
	const char	*v;
	uint64_t	 k;

	if (r->seq != kv->last_seq + 1)
		kv->bad++;
	kv->last_seq = r->seq;
	kv->n++;
	if (rec_get_u64(r, "k", &k) != 0 || k >= KV_NKEY) {
		*why = "bad key";
		return -1;
	}
	if (strcmp(r->type, "set") == 0 &&
	    (v = rec_get(r, "v", NULL)) != NULL)
		kv_set(kv, (int)k, v);
	else if (strcmp(r->type, "del") == 0)
		kv_set(kv, (int)k, NULL);
	else {
		*why = "bad record";
		return -1;
	}
	return 0;
}

/* Snapshot callback: a "set" body for every live key, one per line. */
static void
kv_snapshot(void *arg, struct buf *out)
{
	struct kvt	*t = arg;
	int		 i;

	for (i = 0; i < KV_NKEY; i++) {
		if (t->state.val[i] == NULL)
			continue;
		kv_body(out, i, t->state.val[i]);
		buf_addc(out, '\n');
	}
}

/* Append the body of set (val) or del (NULL) of key to b. */
static void
kv_body(struct buf *b, int key, const char *val)
{
	rec_begin(b, val != NULL ? "set" : "del");
	rec_add_u64(b, "k", (uint64_t)key);
	if (val != NULL)
		rec_add_str(b, "v", val);
}

/* Commit callback: on success the change reaches the committed state. */
static void
kv_done(void *arg, int status)
{
	struct kvop	*op = arg;
	struct kvt	*t = op->t;

	if (t->in_append)
		t->sync_cb++;
	if (op->id != t->want_id)
		t->bad_order++;
	t->want_id = op->id + 1;
	t->ndone++;
	if (status != 0)
		t->nfail++;
	else
		kv_set(&t->state, op->key, op->val);
	free(op->val);
	free(op);

	if (t->chain > 0) {
		t->chain--;
		kv_special(t, "chain");
	}
}

/* Append set (val) or del (NULL) of key. */
static void
kv_append(struct kvt *t, int key, const char *val)
{
	struct kvop	*op = xcalloc(1, sizeof *op);
	struct buf	 b;

	op->t = t;
	op->id = t->next_id++;
	op->key = key;
	op->val = val != NULL ? xstrdup(val) : NULL;
	buf_init(&b);
	kv_body(&b, key, val);
	t->in_append = 1;
	journal_append(t->j, b.data, b.len, kv_done, op);
	t->in_append = 0;
	buf_free(&b);
}

/* Append n random sets and dels of the keys below KV_RAND. */
static void
kv_random(struct kvt *t, int n)
{
	char	val[256];
	int	i, len;

	for (i = 0; i < n; i++) {
		if (rnd() % 4 == 0) {
			kv_append(t, (int)(rnd() % KV_RAND), NULL);
			continue;
		}
		len = snprintf(val, sizeof val, "%d ", t->next_id);
		memset(val + len, 'a' + (int)(rnd() % 26),
		    rnd() % (sizeof val - (size_t)len - 1));
		val[sizeof val - 1] = '\0';
		kv_append(t, (int)(rnd() % KV_RAND), val);
	}
}

/* Set the next key above KV_RAND (once each) to a value naming why. */
static void
kv_special(struct kvt *t, const char *why)
{
	char	val[64];

	if (t->special >= KV_NKEY)
		fatalx("kv_special: out of keys");
	snprintf(val, sizeof val, "%s %d", why, t->next_id);
	kv_append(t, t->special++, val);
}

/* Start a store on a fresh journal at jpath, compacting from compact_min. */
static int
kvt_open(struct kvt *t, int compact_min)
{
	struct kv	 kv;
	char		*cause;

	memset(t, 0, sizeof *t);
	t->special = KV_RAND;
	unlink(jpath);
	memset(&kv, 0, sizeof kv);
	if ((t->j = journal_open(jpath, 4096, kv_apply, &kv, &cause)) ==
	    NULL) {
		printf("# %s\n", cause);
		free(cause);
		return -1;
	}
	uv_loop_init(&t->loop);
	journal_attach(t->j, &t->loop);
	journal_set_snapshot(t->j, kv_snapshot, t);
	if (compact_min != 0)
		journal_set_compact_min(t->j, (uint64_t)compact_min);
	return 0;
}

/* Close a store's journal and loop and free its state. */
static void
kvt_close(struct kvt *t)
{
	if (t->j != NULL)
		journal_close(t->j);
	t->j = NULL;
	uv_loop_close(&t->loop);
	kv_free(&t->state);
}

/* Replay jpath into kv (fresh); 0, or -1 with the cause printed. */
static int
kv_reopen(struct kv *kv, char **newpath_left)
{
	struct journal	*j;
	char		*cause, newpath[PATH_MAX];

	memset(kv, 0, sizeof *kv);
	if ((j = journal_open(jpath, 4096, kv_apply, kv, &cause)) == NULL) {
		printf("# %s\n", cause);
		free(cause);
		return -1;
	}
	if (newpath_left != NULL) {
		jpath_with(newpath, ".new", NULL);
		*newpath_left = fsize(newpath) != -1 ? "left" : NULL;
	}
	if (journal_next_seq(j) != kv->last_seq + 1)
		kv->bad++;
	journal_close(j);
	return 0;
}

/* Put jpath followed by a and b (or "") in out, PATH_MAX bytes. */
static void
jpath_with(char *out, const char *a, const char *b)
{
	int	n;

	n = snprintf(out, PATH_MAX, "%s%s%s", jpath, a, b != NULL ? b : "");
	if (n < 0 || n >= PATH_MAX)
		fatalx("jpath_with: path too long");
}

/* Copy the first len bytes (-1: all) of from to to, or remove to. */
static void
copy_file(const char *from, const char *to, off_t len)
{
	char	*data;
	size_t	 n;

	if (fsize(from) == -1) {
		unlink(to);
		return;
	}
	data = slurp(from, &n);
	if (len >= 0 && (size_t)len < n)
		n = (size_t)len;
	spew(to, data, n);
	free(data);
}

/*
 * Count the descriptors open on files in tmpdir, and (in *deleted) those
 * on files since removed.
 */
static int
count_fds(int *deleted)
{
	char	 link[PATH_MAX], fdpath[64];
	ssize_t	 n;
	int	 fd, count = 0;

	*deleted = 0;
	for (fd = 0; fd < 1024; fd++) {
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		if ((n = readlink(fdpath, link, sizeof link - 1)) == -1)
			continue;
		link[n] = '\0';
		if (strncmp(link, tmpdir, strlen(tmpdir)) != 0)
			continue;
		count++;
		if (strstr(link, "(deleted)") != NULL)
			(*deleted)++;
	}
	return count;
}

/*
 * The compaction hook: count the steps; copy the files as a crash at this
 * step would leave them (PATH up to its committed size while it is the
 * file being appended to, all of it once renamed, and PATH.new whole) with
 * the committed state they must give back; append at the steps where the
 * journal must queue or hold records.
 */
static void
compact_hook(struct journal *j, const char *step)
{
	struct hookst	*h = hookst;
	char		 to[PATH_MAX], from[PATH_MAX], suffix[64];
	int		 i;

	if (h == NULL)
		return;
	for (i = 0; i < 5; i++) {
		if (strcmp(step, hook_steps[i]) == 0)
			break;
	}
	if (i == 5)
		fatalx("compact_hook: unknown step %s", step);
	h->steps[i]++;
	if (i == 3 && journal_size(j) > h->base)
		h->base = journal_size(j);
	if (h->copy && i < 4 && h->steps[i] == 1) {
		jpath_with(to, ".crash-", step);
		copy_file(jpath, to, i == 2 ? -1 : (off_t)journal_size(j));
		jpath_with(from, ".new", NULL);
		snprintf(suffix, sizeof suffix, ".crash-%s.new", step);
		jpath_with(to, suffix, NULL);
		h->had_new[i] = fsize(from) != -1;
		copy_file(from, to, -1);
		kv_copy(&h->saved[i], &h->t->state);
	}
	if (h->append && i < 3) {
		kv_special(h->t, step);
		kv_special(h->t, step);
	}
}

/*
 * Many appends with a tiny compact_min compact again and again by
 * themselves; a compaction on demand leaves exactly the live state,
 * numbered from 1; a reopen gives the same state back.
 */
static void
test_compact_auto(void)
{
	struct kvt	 t;
	struct kv	 kv;
	struct hookst	 h;
	struct buf	 snap, want;
	const char	*p, *nl;
	char		*data;
	size_t		 len;
	uint64_t	 seq, peak = 0, base;
	int		 i, ndel, nfd;

	if (!ok(kvt_open(&t, 8192) == 0, "compaction: open a fresh journal"))
		return;
	memset(&h, 0, sizeof h);
	h.t = &t;
	hookst = &h;
	for (i = 0; i < 60; i++) {
		kv_random(&t, 40);
		uv_run(&t.loop, UV_RUN_DEFAULT);
		if ((uint64_t)fsize(jpath) > peak)
			peak = (uint64_t)fsize(jpath);
	}
	ok(t.ndone == 2400 && t.nfail == 0 && t.bad_order == 0 &&
	    t.sync_cb == 0, "2400 appends committed in order, each with 0");
	ok(h.steps[3] >= 3 && h.steps[4] == 0,
	    "the journal compacted itself (%d times)", h.steps[3]);
	base = h.base > 8192 ? h.base : 8192;
	ok(peak < 3 * base, "the journal stayed small (at most %llu bytes, "
	    "compacted to at most %llu)", (unsigned long long)peak,
	    (unsigned long long)h.base);
	ok(journal_idle(t.j) && journal_compact(t.j) == 0 &&
	    !journal_idle(t.j), "journal_compact starts a compaction");
	ok(journal_compact(t.j) == -1, "but not a second one meanwhile");
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(journal_idle(t.j) && h.steps[4] == 0, "and it completes");

	/* The file is now exactly the header and the live state from seq 1. */
	buf_init(&snap);
	buf_init(&want);
	kv_snapshot(&t, &snap);
	buf_adds(&want, "filed-journal 3\n");
	seq = 1;
	for (p = snap.data; p < snap.data + snap.len; p = nl + 1) {
		nl = strchr(p, '\n');
		rec_frame(&want, seq++, p, (size_t)(nl - p));
	}
	data = slurp(jpath, &len);
	ok(len == want.len && memcmp(data, want.data, len) == 0,
	    "the compacted journal is the live state (%d records, %zu bytes)",
	    kv_live(&t.state), len);
	is_int(journal_size(t.j), len, "journal_size is the file's size");
	is_int(journal_next_seq(t.j), kv_live(&t.state) + 1,
	    "the next seq follows the snapshot");
	free(data);
	buf_free(&snap);
	buf_free(&want);
	nfd = count_fds(&ndel);
	ok(nfd == 1 && ndel == 0, "one descriptor left, on the journal");

	/* Appends go on into the new file. */
	seq = journal_next_seq(t.j);
	kv_random(&t, 10);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(t.nfail == 0 && journal_next_seq(t.j) == seq + 10 &&
	    (uint64_t)fsize(jpath) == journal_size(t.j),
	    "appends after a compaction commit into the new file");
	seq = journal_next_seq(t.j);
	journal_close(t.j);
	t.j = NULL;
	hookst = NULL;

	ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
	    kv.last_seq == seq - 1 && kv_equal(&kv, &t.state),
	    "a reopen replays the same state, seqs from 1 without a gap");
	kv_free(&kv);
	kvt_close(&t);
}

/*
 * Appends made while a compaction runs: from the loop between its steps,
 * from commit callbacks, from the steps where the journal takes the tail
 * (a batch in flight then), holds batches (tail written) and renames. All
 * commit with 0, in order, and are in the journal after a reopen.
 */
static void
test_compact_busy(void)
{
	struct kvt	 t;
	struct kv	 kv;
	struct hookst	 h;
	int		 i, turns = 0, before, ok_specials = 1;
	uint64_t	 seq;
	char		 val[64];

	if (!ok(kvt_open(&t, 0) == 0, "busy compaction: open"))
		return;
	kv_random(&t, 300);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	memset(&h, 0, sizeof h);
	h.t = &t;
	h.append = 1;
	hookst = &h;

	before = t.next_id;
	kv_random(&t, 20);		/* a batch in flight at the start */
	ok(journal_compact(t.j) == 0, "start a compaction with a batch in "
	    "flight");
	t.chain = 10;
	while (h.steps[3] == 0 && h.steps[4] == 0 && turns < 100000) {
		kv_special(&t, "turn");
		kv_random(&t, 2);
		uv_run(&t.loop, UV_RUN_ONCE);
		turns++;
	}
	ok(h.steps[3] == 1 && h.steps[4] == 0,
	    "the compaction completed (%d loop turns with appends)", turns);
	/*
	 * On a slow machine (qemu-user) the compaction may complete before
	 * the callbacks made all their appends: let them finish, so that the
	 * append below is the last one.
	 */
	uv_run(&t.loop, UV_RUN_DEFAULT);
	kv_special(&t, "after");
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(journal_idle(t.j), "the journal is idle afterwards");
	ok(t.ndone == t.next_id && t.nfail == 0,
	    "every append committed with 0 (%d during the compaction)",
	    t.next_id - before);
	ok(t.bad_order == 0 && t.sync_cb == 0,
	    "callbacks in append order, none inside journal_append");
	ok(t.chain == 0, "appends from callbacks were made");
	seq = journal_next_seq(t.j);
	journal_close(t.j);
	t.j = NULL;
	hookst = NULL;

	ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
	    kv.last_seq == seq - 1 && kv_equal(&kv, &t.state),
	    "a reopen replays the same state, seqs from 1 without a gap");
	for (i = KV_RAND; i < t.special; i++) {
		if (kv.val[i] == NULL)
			ok_specials = 0;
	}
	snprintf(val, sizeof val, "after %d", t.next_id - 1);
	ok(ok_specials && t.special > KV_RAND + 10 &&
	    kv.val[t.special - 1] != NULL &&
	    strcmp(kv.val[t.special - 1], val) == 0,
	    "all %d appends made at the awkward moments are there",
	    t.special - KV_RAND);
	kv_free(&kv);
	kvt_close(&t);
}

/*
 * Crashes: the files as they stand at each step of a compaction (with
 * appends going on) replay to the committed state of that moment, and a
 * leftover PATH.new, even a valid journal, is removed unread.
 */
static void
test_compact_crash(void)
{
	struct kvt	 t;
	struct kv	 kv, other;
	struct hookst	 h;
	struct buf	 body, b;
	char		 from[PATH_MAX], newpath[PATH_MAX], suffix[64], *left;
	int		 i, r, turns = 0;

	if (!ok(kvt_open(&t, 0) == 0, "crash: open"))
		return;
	kv_random(&t, 300);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	memset(&h, 0, sizeof h);
	h.t = &t;
	h.append = 1;
	h.copy = 1;
	hookst = &h;
	kv_random(&t, 5);
	ok(journal_compact(t.j) == 0, "crash: start a compaction");
	while (h.steps[3] == 0 && h.steps[4] == 0 && turns < 100000) {
		kv_random(&t, 3);
		uv_run(&t.loop, UV_RUN_ONCE);
		turns++;
	}
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(h.steps[3] == 1 && t.nfail == 0, "crash: the compaction completed");
	journal_close(t.j);
	t.j = NULL;
	hookst = NULL;

	jpath_with(newpath, ".new", NULL);
	ok(h.had_new[0] && h.had_new[1] && !h.had_new[2] && !h.had_new[3],
	    "PATH.new exists until the rename");
	for (i = 0; i < 4; i++) {
		jpath_with(from, ".crash-", hook_steps[i]);
		copy_file(from, jpath, -1);
		unlink(from);
		snprintf(suffix, sizeof suffix, ".crash-%s.new",
		    hook_steps[i]);
		jpath_with(from, suffix, NULL);
		copy_file(from, newpath, -1);
		unlink(from);
		left = "unset";
		r = kv_reopen(&kv, &left);
		ok(r == 0 && left == NULL && kv.bad == 0 &&
		    kv_equal(&kv, &h.saved[i]), "a crash at step %s replays "
		    "the state committed then (%d records), PATH.new gone",
		    hook_steps[i], kv.n);
		kv_free(&kv);
		kv_free(&h.saved[i]);
	}

	/* A PATH.new by hand: a valid journal of another state. */
	copy_file(jpath, from, -1);
	buf_init(&b);
	buf_init(&body);
	buf_adds(&b, "filed-journal 1\n");
	kv_body(&body, 0, "from journal.new");
	rec_frame(&b, 1, body.data, body.len);
	spew(newpath, b.data, b.len);
	memset(&other, 0, sizeof other);
	ok(kv_reopen(&other, &left) == 0 && left == NULL &&
	    fsize(newpath) == -1, "a stale PATH.new is removed at open");
	ok(kv_reopen(&kv, NULL) == 0 && kv_equal(&kv, &other) &&
	    (kv.val[0] == NULL || strcmp(kv.val[0], "from journal.new") != 0),
	    "and PATH, not PATH.new, was replayed");
	kv_free(&kv);
	kv_free(&other);
	unlink(from);
	buf_free(&b);
	buf_free(&body);
	kvt_close(&t);
}

/*
 * A compaction that fails (PATH.new is a directory) leaves the old journal
 * in use and appends working, and backs off: no new attempt before the
 * journal has grown by another threshold. Without a snapshot callback, or
 * with a broken journal, journal_compact refuses.
 */
static void
test_compact_error(void)
{
	struct kvt	 t;
	struct kv	 kv;
	struct hookst	 h;
	struct stat	 st0, st1;
	char		 newpath[PATH_MAX];
	uint64_t	 size0, seq;
	int		 i, fd;

	if (!ok(kvt_open(&t, 0) == 0, "error: open"))
		return;
	jpath_with(newpath, ".new", NULL);
	memset(&h, 0, sizeof h);
	h.t = &t;
	hookst = &h;
	kv_random(&t, 100);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	stat(jpath, &st0);
	mkdir(newpath, 0700);
	ok(journal_compact(t.j) == 0, "a compaction starts");
	kv_random(&t, 10);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	stat(jpath, &st1);
	ok(h.steps[4] == 1 && h.steps[3] == 0 && journal_idle(t.j),
	    "it fails when PATH.new cannot be created");
	ok(st0.st_ino == st1.st_ino && t.nfail == 0 &&
	    (uint64_t)fsize(jpath) == journal_size(t.j),
	    "the old journal stays in use, appends meanwhile committed");

	/* Back off: one attempt per threshold of growth. */
	journal_set_compact_min(t.j, 16384);
	size0 = journal_size(t.j);
	for (i = 0; i < 40; i++) {
		kv_random(&t, 20);
		uv_run(&t.loop, UV_RUN_DEFAULT);
	}
	ok(t.nfail == 0 && t.bad_order == 0, "appends go on committing");
	ok(h.steps[4] > 1 && (uint64_t)(h.steps[4] - 1) <=
	    (journal_size(t.j) - size0) / 16384,
	    "%d attempts for %llu bytes of growth", h.steps[4] - 1,
	    (unsigned long long)(journal_size(t.j) - size0));
	rmdir(newpath);
	ok(journal_compact(t.j) == 0, "a compaction on demand");
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(h.steps[3] == 1 && fsize(newpath) == -1, "works once it can");
	seq = journal_next_seq(t.j);
	journal_close(t.j);
	t.j = NULL;
	ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
	    kv.last_seq == seq - 1 && kv_equal(&kv, &t.state),
	    "a reopen replays the same state");
	kv_free(&kv);
	kvt_close(&t);
	hookst = NULL;

	/* No snapshot callback; a broken journal. */
	if (!ok(kvt_open(&t, 0) == 0, "error: open again"))
		return;
	journal_set_snapshot(t.j, NULL, NULL);
	ok(journal_compact(t.j) == -1, "no compaction without a callback");
	journal_set_snapshot(t.j, kv_snapshot, &t);
	fd = find_fd(jpath);
	if (ok(fd != -1, "find the journal's descriptor")) {
		flaky_fail(fd);
		kv_append(&t, 0, "x");
		uv_run(&t.loop, UV_RUN_DEFAULT);
		flaky_fail(-1);
		ok(t.nfail == 1, "the record whose fdatasync failed gets an "
		    "error");
		ok(!journal_broken(t.j) && journal_idle(t.j),
		    "the broken journal is rewritten from the committed state");
		ok(find_fd(jpath) != -1 && find_fd(jpath) != fd,
		    "and written to through a new descriptor");
		kv_append(&t, 1, "y");
		uv_run(&t.loop, UV_RUN_DEFAULT);
		ok(t.nfail == 1, "it accepts changes again");
		journal_close(t.j);
		t.j = NULL;
		ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
		    kv_equal(&kv, &t.state),
		    "a reopen gives the committed state, without the refused "
		    "record");
		kv_free(&kv);
	}
	kvt_close(&t);
}

/*
 * Snapshot callbacks run in the forked child only: one that takes its
 * time, so that the parent changes keys meanwhile, and one that dies.
 */
static void
kv_snapshot_slow(void *arg, struct buf *out)
{
	usleep(300000);
	kv_snapshot(arg, out);
}

/* A snapshot child killed before it wrote anything (the OOM killer). */
static void
kv_snapshot_die(void *arg, struct buf *out)
{
	(void)arg;
	(void)out;
	kill(getpid(), SIGKILL);
	pause();
}

/* Return 1 if this process has no child left to reap, zombie or not. */
static int
no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/*
 * The snapshot is written by a child from the state at the fork: keys set
 * and removed while it writes (the loop goes on meanwhile) reach the new
 * journal through its tail, and a reopen gives them back. A child that
 * dies is a failed compaction: the old journal stays, untouched, appends
 * go on, the child is reaped, and the next compaction works.
 */
static void
test_compact_fork(void)
{
	struct kvt	 t;
	struct kv	 kv;
	struct hookst	 h;
	struct stat	 st0, st1;
	char		 newpath[PATH_MAX];
	uint64_t	 t0, seq, size0;
	int		 i, during = 0, turns = 0;

	if (!ok(kvt_open(&t, 0) == 0, "fork: open"))
		return;
	jpath_with(newpath, ".new", NULL);
	memset(&h, 0, sizeof h);
	h.t = &t;
	hookst = &h;
	kv_random(&t, 300);
	for (i = 0; i < 8; i++)
		kv_append(&t, KV_RAND - 1 - i, "before the fork");
	uv_run(&t.loop, UV_RUN_DEFAULT);
	journal_set_snapshot(t.j, kv_snapshot_slow, &t);
	t0 = uv_hrtime();
	ok(journal_compact(t.j) == 0, "fork: a compaction starts");
	ok(uv_hrtime() - t0 < 200000000ULL,
	    "the loop is not kept waiting for the snapshot (%.0f ms)",
	    (double)(uv_hrtime() - t0) / 1e6);
	/* Change keys while the child sleeps over its snapshot. */
	while (h.steps[3] == 0 && h.steps[4] == 0 && turns < 1000000) {
		if (h.steps[0] == 0 && during < 40) {
			if (during % 2 == 0)
				kv_append(&t, KV_RAND - 1 - during / 5,
				    during % 4 == 0 ? NULL : "changed");
			else
				kv_random(&t, 1);
			during++;
		}
		uv_run(&t.loop, during < 40 ? UV_RUN_NOWAIT : UV_RUN_ONCE);
		turns++;
		if (during < 40)
			usleep(1000);
	}
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(h.steps[3] == 1 && h.steps[4] == 0 && during == 40 &&
	    t.nfail == 0, "it completes; %d changes were committed while "
	    "the child wrote the snapshot", during);
	ok(no_children(), "the child was reaped");
	seq = journal_next_seq(t.j);
	journal_close(t.j);
	t.j = NULL;
	ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
	    kv.last_seq == seq - 1 && kv_equal(&kv, &t.state),
	    "a reopen gives every change made during the snapshot");
	kv_free(&kv);
	kvt_close(&t);

	if (!ok(kvt_open(&t, 0) == 0, "fork: open again"))
		return;
	memset(&h, 0, sizeof h);
	h.t = &t;
	kv_random(&t, 100);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	journal_set_snapshot(t.j, kv_snapshot_die, &t);
	stat(jpath, &st0);
	size0 = journal_size(t.j);
	ok(journal_compact(t.j) == 0, "a compaction whose child is killed");
	kv_random(&t, 10);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	stat(jpath, &st1);
	ok(h.steps[4] == 1 && h.steps[3] == 0 && journal_idle(t.j) &&
	    no_children(), "fails, and the child is reaped");
	ok(st0.st_ino == st1.st_ino && fsize(newpath) == -1 &&
	    t.nfail == 0 && journal_size(t.j) > size0 &&
	    (uint64_t)fsize(jpath) == journal_size(t.j),
	    "the old journal stays in use, appends meanwhile committed, "
	    "no PATH.new");
	kv_random(&t, 10);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(t.nfail == 0 && t.bad_order == 0, "appends go on committing");
	journal_set_snapshot(t.j, kv_snapshot, &t);
	ok(journal_compact(t.j) == 0, "a compaction on demand");
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ok(h.steps[3] == 1 && no_children(), "works");
	seq = journal_next_seq(t.j);
	journal_close(t.j);
	t.j = NULL;
	hookst = NULL;
	ok(kv_reopen(&kv, NULL) == 0 && kv.bad == 0 &&
	    kv.last_seq == seq - 1 && kv_equal(&kv, &t.state),
	    "a reopen replays the same state");
	kv_free(&kv);
	kvt_close(&t);
}

int
main(void)
{
	struct buf	 texts[NREC];
	DIR		*dir;
	struct dirent	*de;
	char		 path[PATH_MAX];
	int		 i;

	log_init(getenv("TEST_DEBUG") != NULL);
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	snprintf(jpath, sizeof jpath, "%s/journal", tmpdir);
	for (i = 0; i < NREC; i++)
		make_text(&texts[i], i);

	test_crc();
	test_escape();
	test_parse();
	test_get();
	test_create();
	test_append(texts);
	test_lazy_cork(texts);
	test_truncate(texts);
	test_corrupt(texts);
	test_huge();
	test_header();
	test_apply_refuse();
	test_seq();
	test_max_line();
	test_write_error();
	test_sync_error();
	journal_compact_hook = compact_hook;
	test_compact_auto();
	test_compact_busy();
	test_compact_crash();
	test_compact_error();
	test_compact_fork();

	for (i = 0; i < NREC; i++)
		buf_free(&texts[i]);
	if ((dir = opendir(tmpdir)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", tmpdir,
			    de->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	rmdir(tmpdir);
	return tap_done();
}
