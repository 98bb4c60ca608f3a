/*
 * rec.c: the journal record codec. A record is one line of text:
 *
 *	SEQ TYPE KEY=VALUE KEY=VALUE ... CRC
 *
 * - SEQ is decimal, >= 1, without leading zeros. TYPE is [a-z]+, keys are
 *   [a-z_]+, a record has at most REC_MAXFIELDS fields and no key twice.
 * - Values are escaped so that a record is always one line with no spaces
 *   inside a value: '\\' -> "\\\\", ' ' -> "\\s", '\n' -> "\\n",
 *   '\t' -> "\\t", '\r' -> "\\r", other bytes below 0x20 and 0x7f ->
 *   "\\xHH" (lowercase). Bytes from 0x80 up pass through raw.
 * - CRC is 8 lowercase hex digits: the CRC-32C of every byte before the
 *   space that precedes it.
 * - The daemon builds a "body" (TYPE and fields, no SEQ, no CRC) with
 *   rec_begin/rec_add*; the journal frames it with rec_frame when it knows
 *   the sequence number.
 *
 * The parser is strict: it accepts exactly what the writer produces, so a
 * record has one spelling and anything else is damage. It parses in place,
 * never reads outside the bytes it was given and checks the CRC before
 * looking at anything else.
 *
 * No libuv, no FUSE: this file links into the unit tests as is.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "filed.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define REC_CRC_HW
#include <nmmintrin.h>
#endif

#define REC_CRC_POLY	0x82f63b78U	/* Castagnoli, reflected */

/*
 * Not in filed.h: the software CRC and the hardware check, exported so that
 * t/unit-journal.c can check that both paths agree.
 */
uint32_t	 crc32c_sw(uint32_t, const void *, size_t);
int		 crc32c_hw_available(void);

static void	 crc32c_init(void);
#ifdef REC_CRC_HW
static uint32_t	 crc32c_hw(uint32_t, const void *, size_t);
#endif
static int	 rec_valid_word(const char *, int);
static void	 rec_add_key(struct buf *, const char *, size_t);
static int	 rec_hexval(int);
static int	 rec_parse_fields(char *, char *, struct rec *, const char **);

static pthread_once_t	crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t		crc32c_table[8][256];
static int		crc32c_hw_ok;

static const char	rec_hexdigits[] = "0123456789abcdef";

/* Build the slicing-by-8 tables and look for the SSE4.2 instruction. */
static void
crc32c_init(void)
{
	uint32_t	c;
	int		n, k;

	for (n = 0; n < 256; n++) {
		c = (uint32_t)n;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ REC_CRC_POLY : c >> 1;
		crc32c_table[0][n] = c;
	}
	for (n = 0; n < 256; n++) {
		c = crc32c_table[0][n];
		for (k = 1; k < 8; k++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[k][n] = c;
		}
	}
#ifdef REC_CRC_HW
	__builtin_cpu_init();
	crc32c_hw_ok = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* Return 1 if crc32c uses the CPU's CRC32 instruction. */
int
crc32c_hw_available(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return crc32c_hw_ok;
}

/* CRC-32C in software, eight bytes at a time (slicing-by-8). */
uint32_t
crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint32_t		 lo, hi;

	pthread_once(&crc32c_once, crc32c_init);
	crc = ~crc;
	while (len >= 8) {
		lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
		crc = crc32c_table[7][lo & 0xff] ^
		    crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^
		    crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][hi & 0xff] ^
		    crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^
		    crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#ifdef REC_CRC_HW
/* CRC-32C with the SSE4.2 CRC32 instruction; only called if the CPU has it. */
__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint64_t		 c = ~crc, w;
	uint32_t		 c32;

	while (len >= 8) {
		memcpy(&w, p, sizeof w);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	c32 = (uint32_t)c;
	while (len-- > 0)
		c32 = _mm_crc32_u8(c32, *p++);
	return ~c32;
}
#endif

/*
 * Return the CRC-32C of len bytes continuing crc (0 to start), so that
 * crc32c(crc32c(0, a), b) is the CRC of a followed by b.
 */
uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
#ifdef REC_CRC_HW
	if (crc32c_hw_ok)
		return crc32c_hw(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}

/* Return 1 if s is a non-empty [a-z]+ word, or [a-z_]+ if underscore. */
static int
rec_valid_word(const char *s, int underscore)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if ((*s < 'a' || *s > 'z') && (!underscore || *s != '_'))
			return 0;
	}
	return 1;
}

/* Start a record body of the given type in b (appended). */
void
rec_begin(struct buf *b, const char *type)
{
	if (!rec_valid_word(type, 0))
		fatalx("rec_begin: bad record type '%s'", type);
	buf_adds(b, type);
}

/*
 * Append " key=" to a body, with room for n more bytes after it: one
 * reserve for the field, where a snapshot of a million jobs made fifteen
 * million small appends.
 */
static void
rec_add_key(struct buf *b, const char *key, size_t n)
{
	size_t	klen = strlen(key);

	if (!rec_valid_word(key, 1))
		fatalx("rec_add: bad key '%s'", key);
	buf_reserve(b, klen + 2 + n);
	b->data[b->len++] = ' ';
	memcpy(b->data + b->len, key, klen);
	b->len += klen;
	b->data[b->len++] = '=';
	b->data[b->len] = '\0';
}

/* Append " key=value" to a body, escaping the len bytes of val. */
void
rec_add(struct buf *b, const char *key, const void *val, size_t len)
{
	const unsigned char	*p = val;
	size_t			 i, run = 0;
	char			 esc[4];
	unsigned char		 c;

	rec_add_key(b, key, len);
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c > ' ' && c != 0x7f && c != '\\')
			continue;
		buf_add(b, p + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case ' ':
			buf_add(b, "\\s", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		default:
			esc[1] = 'x';
			esc[2] = rec_hexdigits[c >> 4];
			esc[3] = rec_hexdigits[c & 0xf];
			buf_add(b, esc, 4);
			break;
		}
	}
	buf_add(b, p + run, len - run);
}

/* Append " key=value" for a string value. */
void
rec_add_str(struct buf *b, const char *key, const char *val)
{
	rec_add(b, key, val, strlen(val));
}

/*
 * Write val in decimal to s (REC_NUMLEN bytes at least, no NUL) and return
 * its length. By hand: snprintf was most of the time a snapshot took.
 */
size_t
rec_fmt_u64(char *s, uint64_t val)
{
	static const char	pairs[] =
	    "00010203040506070809101112131415161718192021222324"
	    "25262728293031323334353637383940414243444546474849"
	    "50515253545556575859606162636465666768697071727374"
	    "75767778798081828384858687888990919293949596979899";
	char			tmp[REC_NUMLEN];
	size_t			n = sizeof tmp, d;

	/* Two digits at a time, from the right: a time has nineteen. */
	while (val >= 100) {
		d = (size_t)(val % 100) * 2;
		val /= 100;
		tmp[--n] = pairs[d + 1];
		tmp[--n] = pairs[d];
	}
	if (val >= 10) {
		d = (size_t)val * 2;
		tmp[--n] = pairs[d + 1];
		tmp[--n] = pairs[d];
	} else
		tmp[--n] = (char)('0' + val);
	memcpy(s, tmp + n, sizeof tmp - n);
	return sizeof tmp - n;
}

/* Write val in decimal to s as rec_fmt_u64 does, with '-' if negative. */
size_t
rec_fmt_i64(char *s, int64_t val)
{
	if (val >= 0)
		return rec_fmt_u64(s, (uint64_t)val);
	s[0] = '-';
	return 1 + rec_fmt_u64(s + 1, -(uint64_t)val);
}

/* Append " key=N" for an unsigned number (digits need no escape). */
void
rec_add_u64(struct buf *b, const char *key, uint64_t val)
{
	rec_add_key(b, key, REC_NUMLEN);
	b->len += rec_fmt_u64(b->data + b->len, val);
	b->data[b->len] = '\0';
}

/* Append " key=N" for a signed number. */
void
rec_add_i64(struct buf *b, const char *key, int64_t val)
{
	rec_add_key(b, key, REC_NUMLEN);
	b->len += rec_fmt_i64(b->data + b->len, val);
	b->data[b->len] = '\0';
}

/* Append the whole line "SEQ BODY CRC\n" for a body of len bytes to out. */
void
rec_frame(struct buf *out, uint64_t seq, const char *body, size_t len)
{
	size_t		start = out->len;
	uint32_t	crc;
	char		s[REC_NUMLEN + 1];
	size_t		n;
	int		i;

	n = rec_fmt_u64(s, seq);
	s[n++] = ' ';
	buf_reserve(out, n + len + 10);
	buf_add(out, s, n);
	buf_add(out, body, len);
	crc = crc32c(0, out->data + start, out->len - start);
	s[0] = ' ';
	for (i = 0; i < 8; i++)
		s[1 + i] = rec_hexdigits[(crc >> (28 - 4 * i)) & 0xf];
	s[9] = '\n';
	buf_add(out, s, 10);
}

/* Return the value of a lowercase hex digit, or -1. */
static int
rec_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parse "TYPE k=v ..." in [p, end) into r: NUL-terminate the type and the
 * keys, unescape values in place and NUL-terminate them. The last value's
 * NUL goes at *end, so end must be writable.
 */
static int
rec_parse_fields(char *p, char *end, struct rec *r, const char **why)
{
	struct rec_field	*f;
	char			*s, *key, *val, *d;
	int			 more, i, hi, lo;
	unsigned char		 c;

	r->nfields = 0;
	s = p;
	while (p < end && *p >= 'a' && *p <= 'z')
		p++;
	if (p == s || (p < end && *p != ' ')) {
		*why = "bad record type";
		return -1;
	}
	r->type = s;
	more = p < end;
	*p = '\0';

	while (more) {
		p++;				/* the space, now a NUL */
		key = p;
		while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_'))
			p++;
		if (p == key || p == end || *p != '=') {
			*why = "bad field";
			return -1;
		}
		*p++ = '\0';
		if (r->nfields == REC_MAXFIELDS) {
			*why = "too many fields";
			return -1;
		}
		for (i = 0; i < r->nfields; i++) {
			if (rec_streq(r->field[i].key, key)) {
				*why = "duplicate field";
				return -1;
			}
		}

		val = d = p;
		while (p < end && *p != ' ') {
			c = (unsigned char)*p;
			if (c < ' ' || c == 0x7f) {
				*why = "control character in value";
				return -1;
			}
			if (c != '\\') {
				*d++ = *p++;
				continue;
			}
			if (end - p < 2) {
				*why = "bad escape";
				return -1;
			}
			switch (p[1]) {
			case '\\':
				*d++ = '\\';
				break;
			case 's':
				*d++ = ' ';
				break;
			case 'n':
				*d++ = '\n';
				break;
			case 't':
				*d++ = '\t';
				break;
			case 'r':
				*d++ = '\r';
				break;
			case 'x':
				if (end - p < 4 ||
				    (hi = rec_hexval(p[2])) == -1 ||
				    (lo = rec_hexval(p[3])) == -1) {
					*why = "bad escape";
					return -1;
				}
				*d++ = (char)(hi << 4 | lo);
				p += 2;
				break;
			default:
				*why = "bad escape";
				return -1;
			}
			p += 2;
		}
		more = p < end;
		*d = '\0';

		f = &r->field[r->nfields++];
		f->key = key;
		f->val = val;
		f->len = (size_t)(d - val);
	}
	return 0;
}

/*
 * Parse one journal line (len bytes, without its newline) in place into r.
 * Return 0, or -1 with *why set to a static string.
 */
int
rec_parse(char *line, size_t len, struct rec *r, const char **why)
{
	char		*p, *end;
	uint32_t	 want = 0, got;
	uint64_t	 seq = 0;
	int		 i, v;

	/* The shortest record is "1 a 01234567". */
	if (len < 12 || line[len - 9] != ' ') {
		*why = "no checksum";
		return -1;
	}
	for (i = 0; i < 8; i++) {
		if ((v = rec_hexval(line[len - 8 + i])) == -1) {
			*why = "no checksum";
			return -1;
		}
		want = want << 4 | (uint32_t)v;
	}
	end = line + len - 9;
	got = crc32c(0, line, (size_t)(end - line));
	if (got != want) {
		*why = "bad checksum";
		return -1;
	}

	p = line;
	if (p == end || *p < '1' || *p > '9') {
		*why = "bad sequence number";
		return -1;
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = *p - '0';
		if (seq > (UINT64_MAX - (uint64_t)v) / 10) {
			*why = "bad sequence number";
			return -1;
		}
		seq = seq * 10 + (uint64_t)v;
	}
	if (p == end || *p != ' ') {
		*why = "bad sequence number";
		return -1;
	}
	r->seq = seq;
	return rec_parse_fields(p + 1, end, r, why);
}

/*
 * Parse a body (no SEQ, no CRC) of len bytes in place into r, with seq 0.
 * body[len] must be writable: a struct buf's terminating NUL is.
 */
int
rec_parse_body(char *body, size_t len, struct rec *r, const char **why)
{
	r->seq = 0;
	return rec_parse_fields(body, body + len, r, why);
}

/* Return the value of key and its length in *lenp (if not NULL), or NULL. */
const char *
rec_get(const struct rec *r, const char *key, size_t *lenp)
{
	int	i;

	for (i = 0; i < r->nfields; i++) {
		if (rec_streq(r->field[i].key, key)) {
			if (lenp != NULL)
				*lenp = r->field[i].len;
			return r->field[i].val;
		}
	}
	return NULL;
}

/* Read key as an unsigned decimal: 0, or -1 if missing, malformed, too big. */
int
rec_get_u64(const struct rec *r, const char *key, uint64_t *out)
{
	const char	*val;
	size_t		 len, i;
	uint64_t	 n = 0;
	unsigned	 d;

	if ((val = rec_get(r, key, &len)) == NULL || len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (val[i] < '0' || val[i] > '9')
			return -1;
		d = (unsigned)(val[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* Read key as a signed decimal: 0, or -1 if missing, malformed, too big. */
int
rec_get_i64(const struct rec *r, const char *key, int64_t *out)
{
	const char	*val;
	size_t		 len, i = 0;
	uint64_t	 n = 0, limit = INT64_MAX;
	unsigned	 d;
	int		 neg = 0;

	if ((val = rec_get(r, key, &len)) == NULL)
		return -1;
	if (len > 0 && val[0] == '-') {
		neg = 1;
		limit = (uint64_t)INT64_MAX + 1;
		i = 1;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (val[i] < '0' || val[i] > '9')
			return -1;
		d = (unsigned)(val[i] - '0');
		if (n > (limit - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (neg)
		*out = n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
	else
		*out = (int64_t)n;
	return 0;
}
