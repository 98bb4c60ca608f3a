/*
 * tap.h: a tiny Test Anything Protocol emitter for the C unit tests.
 * ok() prints one result line; tap_done() prints the plan and returns the
 * exit status. Failing checks print the file and line as a TAP comment.
 */

#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...)	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(a, b, ...) do {						\
	long long tap_a = (a), tap_b = (b);				\
	if (!ok(tap_a == tap_b, __VA_ARGS__))				\
		printf("#   got %lld, expected %lld\n", tap_a, tap_b);	\
} while (0)
#define is_str(a, b, ...) do {						\
	const char *tap_a = (a), *tap_b = (b);				\
	if (!ok(tap_a != NULL && tap_b != NULL &&			\
	    strcmp(tap_a, tap_b) == 0, __VA_ARGS__))			\
		printf("#   got '%s', expected '%s'\n",			\
		    tap_a ? tap_a : "(null)", tap_b ? tap_b : "(null)"); \
} while (0)

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* TAP_H */
