/*
 * buf.c: a growable byte buffer. The data is always NUL-terminated past len
 * so that text can be handed to string functions without a copy.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filed.h"

/* Make an empty buffer. */
void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Release a buffer's memory; it is empty and reusable afterwards. */
void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

/* Empty a buffer but keep its memory. */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for n more bytes (and the terminating NUL). */
void
buf_reserve(struct buf *b, size_t n)
{
	size_t	need, cap;

	if (n > SIZE_MAX - b->len - 1)
		fatalx("buf_reserve: overflow");
	need = b->len + n + 1;
	if (need <= b->cap)
		return;
	cap = b->cap == 0 ? 64 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xreallocarray(b->data, 1, cap);
	b->cap = cap;
}

/* Append n bytes. */
void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n != 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append one byte. */
void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Append a string. */
void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append formatted text. */
void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * Write n bytes at offset off, as pwrite does to a file: the buffer grows
 * as needed and a gap is filled with zeros.
 */
void
buf_set(struct buf *b, size_t off, const void *p, size_t n)
{
	size_t	end = off + n;

	if (end < off)
		fatalx("buf_set: overflow");
	if (end > b->len) {
		buf_reserve(b, end - b->len);
		if (off > b->len)
			memset(b->data + b->len, 0, off - b->len);
		b->len = end;
		b->data[b->len] = '\0';
	}
	if (n != 0)
		memcpy(b->data + off, p, n);
}
