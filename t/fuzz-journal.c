/*
 * fuzz-journal.c: libFuzzer target for the journal reader: the record codec
 * (rec.c) and the replay of a whole file (journal_open) into the state
 * machine (queue_replay), as filed does at startup.
 *
 * - The input is parsed as one record line and as one record body, each
 *   from a malloc'd buffer of exactly its size (plus the one byte
 *   rec_parse_body may write), so AddressSanitizer sees any read past it.
 *   A record that parses is written out again with rec_add/rec_frame and
 *   must parse back to the same fields.
 * - The input is then written to a file and replayed as a journal, with the
 *   header "filed-journal 1\n" put in front when the first byte is odd (so
 *   a seed that is a list of records, "1 new ...", gets one and a seed that
 *   is a whole journal, "filed-journal ...", does not). This is done twice,
 *   with room for long lines and with the shortest max_line, to reach the
 *   "line too long" path; and once more with every line's checksum made
 *   right, so that mutated records get past the CRC to queue_replay.
 * - A journal that opens must stay open-able: the file starts with the
 *   header, a second open neither changes the file nor the state (compared
 *   as queue_snapshot text), and the snapshot framed as a fresh journal, as
 *   compaction writes it, replays to the same state again.
 *
 * A broken invariant prints what differed and aborts, which libFuzzer
 * reports as a crash with the input saved.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"
#include "fuzz.h"

#define FUZZ_HEADER	"filed-journal 1\n"	/* upgraded when opened */
#define FUZZ_HEADER_LEN	(sizeof FUZZ_HEADER - 1)
#define FUZZ_HEADER_NOW	"filed-journal 3\n"	/* what filed writes */
#define FUZZ_MAX_LINE	(1 << 20)
#define FUZZ_SHORT_LINE	64		/* journal.c's JOURNAL_MIN_LINE */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 fuzz_cleanup(void);
static void	 fuzz_write(const char *, const void *, size_t, const void *,
		     size_t);
static void	 fuzz_read(const char *, struct buf *);
static void	 fuzz_queue_init(void);
static void	 fuzz_snapshot(struct buf *);
static void	 fuzz_same(const char *, const struct buf *,
		     const struct buf *);
static void	 fuzz_eol(const struct buf *, struct buf *);
static void	 fuzz_reencode(struct rec *, int);
static uint8_t	*fuzz_fix_crcs(const uint8_t *, size_t);
static void	 fuzz_records(const uint8_t *, size_t);
static void	 fuzz_compacted(const struct buf *, size_t);
static void	 fuzz_journal(const uint8_t *, size_t, size_t);

static char	*fuzz_path;		/* DIR/journal */
static char	*fuzz_newpath;		/* DIR/journal.new, never made */

/* Remove the per-process directory. */
static void
fuzz_cleanup(void)
{
	unlink(fuzz_path);
	unlink(fuzz_newpath);
	rmdir(fuzz_dir);
}

/* Set up the private directory (fuzz.h) and the journal's paths in it. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup("fuzz-journal");
	fuzz_path = xasprintf("%s/journal", fuzz_dir);
	fuzz_newpath = xasprintf("%s/journal.new", fuzz_dir);
	atexit(fuzz_cleanup);
	return 0;
}

/* Write a then b to path, replacing it. */
static void
fuzz_write(const char *path, const void *a, size_t alen, const void *b,
    size_t blen)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fuzz_fail("%s: %s", path, strerror(errno));
	if ((alen > 0 && fwrite(a, 1, alen, f) != alen) ||
	    (blen > 0 && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
		fuzz_fail("%s: write: %s", path, strerror(errno));
}

/* Read the whole of path into b (reset first). */
static void
fuzz_read(const char *path, struct buf *b)
{
	char	chunk[8192];
	size_t	n;
	FILE	*f;

	buf_reset(b);
	if ((f = fopen(path, "r")) == NULL)
		fuzz_fail("%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(b, chunk, n);
	if (ferror(f))
		fuzz_fail("%s: read", path);
	fclose(f);
}

/*
 * An empty queue whose fixed nodes have mtime 0 rather than the time of
 * queue_init, so that two replays of one journal snapshot alike.
 */
static void
fuzz_queue_init(void)
{
	uint64_t	ino;

	queue_init(FUZZ_MAX_LINE);
	for (ino = INO_ROOT; ino < INO_NFIXED; ino++)
		queue_node(ino)->mtime = 0;
}

/* The replayed state as text. */
static void
fuzz_snapshot(struct buf *b)
{
	buf_reset(b);
	queue_snapshot(NULL, b);
}

/* Abort if a and b differ. */
static void
fuzz_same(const char *what, const struct buf *a, const struct buf *b)
{
	if (a->len == b->len && (a->len == 0 ||
	    memcmp(a->data, b->data, a->len) == 0))
		return;
	fuzz_fail("%s:\n--- first (%zu bytes)\n%.*s\n--- then (%zu bytes)\n"
	    "%.*s", what, a->len, (int)a->len, a->data ? a->data : "", b->len,
	    (int)b->len, b->data ? b->data : "");
}

/*
 * Copy a snapshot with the eol flag of every attempt in a job record's att
 * list made 0 or 1. Replay of an "end" record keeps eol's number as it is,
 * replay of a "job" record keeps only whether it is 0; both mean the same
 * (view.c tests it for zero), so the compacted state is compared after this.
 */
static void
fuzz_eol(const struct buf *in, struct buf *out)
{
	const char	*p, *end, *nl, *att, *stop, *colon, *q;

	buf_reset(out);
	p = in->data;
	end = p + in->len;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl == NULL ? end : nl + 1;
		if (strncmp(p, "job ", 4) != 0 ||
		    (att = memmem(p, (size_t)(nl - p), " att=", 5)) == NULL) {
			buf_add(out, p, (size_t)(nl - p));
			p = nl;
			continue;
		}
		att += 5;
		buf_add(out, p, (size_t)(att - p));
		stop = memchr(att, ' ', (size_t)(nl - att));
		if (stop == NULL)
			stop = nl;
		while (att < stop) {
			/* One attempt: 8 numbers; copy 7 and their colons. */
			q = memchr(att, ',', (size_t)(stop - att));
			if (q == NULL)
				q = stop;
			for (colon = q; colon > att && colon[-1] != ':'; colon--)
				/* nothing */;
			buf_add(out, att, (size_t)(colon - att));
			buf_addc(out, (q - colon == 1 && *colon == '0') ? '0' :
			    '1');
			if (q < stop)
				buf_addc(out, ',');
			att = q < stop ? q + 1 : q;
		}
		buf_add(out, stop, (size_t)(nl - stop));
		p = nl;
	}
}

/*
 * Write a parsed record out again as the daemon would and check that it
 * parses back to the same sequence number, type and fields.
 */
static void
fuzz_reencode(struct rec *r, int framed)
{
	struct buf	 body, line;
	struct rec	 r2;
	const char	*why;
	int		 i, rv;

	buf_init(&body);
	buf_init(&line);
	rec_begin(&body, r->type);
	for (i = 0; i < r->nfields; i++)
		rec_add(&body, r->field[i].key, r->field[i].val,
		    r->field[i].len);
	if (framed) {
		rec_frame(&line, r->seq, body.data, body.len);
		rv = rec_parse(line.data, line.len - 1, &r2, &why);
	} else {
		buf_add(&line, body.data, body.len);
		rv = rec_parse_body(line.data, line.len, &r2, &why);
	}
	if (rv != 0)
		fuzz_fail("record written again does not parse: %s", why);
	if (r2.seq != r->seq || strcmp(r2.type, r->type) != 0 ||
	    r2.nfields != r->nfields)
		fuzz_fail("record written again parses differently");
	for (i = 0; i < r->nfields; i++) {
		if (strcmp(r2.field[i].key, r->field[i].key) != 0 ||
		    r2.field[i].len != r->field[i].len ||
		    memcmp(r2.field[i].val, r->field[i].val,
		    r->field[i].len) != 0 ||
		    r2.field[i].val[r2.field[i].len] != '\0')
			fuzz_fail("field %d written again parses differently",
			    i);
	}
	buf_free(&body);
	buf_free(&line);
}

/*
 * Return a copy of the input in which every line that ends with a space
 * and 8 more bytes gets the right checksum there. A mutated record almost
 * never keeps a valid CRC, so without this copy replay would only ever see
 * the seeds' records.
 */
static uint8_t *
fuzz_fix_crcs(const uint8_t *data, size_t size)
{
	uint8_t		*p, *line, *nl, *end;
	char		 hex[9];
	size_t		 len;

	p = xmalloc(size > 0 ? size : 1);
	memcpy(p, data, size);
	end = p + size;
	for (line = p; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		len = (size_t)(nl - line);
		if (len < 12 || line[len - 9] != ' ')
			continue;
		snprintf(hex, sizeof hex, "%08x",
		    (unsigned)crc32c(0, line, len - 9));
		memcpy(line + len - 8, hex, 8);
	}
	return p;
}

/* The record codec on the input as one line and as one body. */
static void
fuzz_records(const uint8_t *data, size_t size)
{
	struct rec	 r;
	const char	*why;
	char		*p;

	p = xmalloc(size > 0 ? size : 1);
	memcpy(p, data, size);
	if (rec_parse(p, size, &r, &why) == 0)
		fuzz_reencode(&r, 1);
	free(p);

	p = (char *)fuzz_fix_crcs(data, size);
	if (rec_parse(p, size, &r, &why) == 0)
		fuzz_reencode(&r, 1);
	free(p);

	p = xmalloc(size + 1);
	memcpy(p, data, size);
	if (rec_parse_body(p, size, &r, &why) == 0)
		fuzz_reencode(&r, 0);
	free(p);
}

/*
 * Frame a snapshot as compaction writes it (seqs from 1) and check that it
 * replays to the same snapshot. A record too long for max_line is one
 * compaction would not write, so then there is nothing to check.
 */
static void
fuzz_compacted(const struct buf *snap, size_t max_line)
{
	struct journal	*j;
	struct buf	 out, again, want;
	const char	*p, *end, *nl;
	char		*cause;
	uint64_t	 seq = 1;
	size_t		 before;

	buf_init(&out);
	buf_init(&again);
	buf_init(&want);
	buf_add(&out, FUZZ_HEADER, FUZZ_HEADER_LEN);
	p = snap->data;
	end = p + snap->len;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			fuzz_fail("snapshot does not end with a newline");
		before = out.len;
		rec_frame(&out, seq++, p, (size_t)(nl - p));
		if (out.len - before - 1 > max_line)
			goto out;
		p = nl + 1;
	}
	fuzz_write(fuzz_path, out.data, out.len, NULL, 0);

	fuzz_queue_init();
	if ((j = journal_open(fuzz_path, max_line, queue_replay, NULL,
	    &cause)) == NULL)
		fuzz_fail("compacted journal refused: %s\n%.*s", cause,
		    (int)out.len, out.data);
	if (journal_next_seq(j) != seq)
		fuzz_fail("compacted journal: next seq %llu, not %llu",
		    (unsigned long long)journal_next_seq(j),
		    (unsigned long long)seq);
	journal_close(j);
	fuzz_snapshot(&again);
	queue_free();
	fuzz_eol(snap, &want);
	fuzz_same("state after compaction", &want, &again);
out:
	buf_free(&out);
	buf_free(&again);
	buf_free(&want);
}

/* Replay the input as a journal and check what an open one promises. */
static void
fuzz_journal(const uint8_t *data, size_t size, size_t max_line)
{
	struct journal	*j;
	struct buf	 file, file2, snap, snap2;
	char		*cause = NULL;
	uint64_t	 next;

	if (size > 0 && (data[0] & 1))
		fuzz_write(fuzz_path, FUZZ_HEADER, FUZZ_HEADER_LEN, data, size);
	else
		fuzz_write(fuzz_path, data, size, NULL, 0);

	fuzz_queue_init();
	j = journal_open(fuzz_path, max_line, queue_replay, NULL, &cause);
	if (j == NULL) {
		if (cause == NULL)
			fuzz_fail("journal_open failed without a cause");
		free(cause);
		queue_free();
		unlink(fuzz_path);
		return;
	}
	next = journal_next_seq(j);
	journal_close(j);

	buf_init(&file);
	buf_init(&file2);
	buf_init(&snap);
	buf_init(&snap2);
	fuzz_snapshot(&snap);
	queue_free();

	fuzz_read(fuzz_path, &file);
	if (file.len < FUZZ_HEADER_LEN ||
	    memcmp(file.data, FUZZ_HEADER_NOW, FUZZ_HEADER_LEN) != 0)
		fuzz_fail("opened journal does not start with the header");

	fuzz_queue_init();
	if ((j = journal_open(fuzz_path, max_line, queue_replay, NULL,
	    &cause)) == NULL)
		fuzz_fail("journal refused on the second open: %s", cause);
	if (journal_next_seq(j) != next)
		fuzz_fail("next seq %llu on the second open, %llu on the first",
		    (unsigned long long)journal_next_seq(j),
		    (unsigned long long)next);
	journal_close(j);
	fuzz_snapshot(&snap2);
	queue_free();
	fuzz_read(fuzz_path, &file2);
	fuzz_same("journal file changed by the second open", &file, &file2);
	fuzz_same("state after the second open", &snap, &snap2);

	fuzz_compacted(&snap, max_line);

	unlink(fuzz_path);
	buf_free(&file);
	buf_free(&file2);
	buf_free(&snap);
	buf_free(&snap2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	*fixed;

	fuzz_records(data, size);
	fuzz_journal(data, size, FUZZ_MAX_LINE);
	fuzz_journal(data, size, FUZZ_SHORT_LINE);
	fixed = fuzz_fix_crcs(data, size);
	fuzz_journal(fixed, size, FUZZ_MAX_LINE);
	free(fixed);
	return 0;
}
