/*
 * fuzz-name.c: libFuzzer target for the job-name rule (util_valid_name).
 * Its verdict on the input bytes, passed in a buffer of exactly their
 * length, must be the one an independent reading of the rule gives: 1 to
 * 255 bytes, no '/', no byte below 0x20 and no 0x7f, not "." or "..".
 * The errno matters too: ENAMETOOLONG for a long name, EINVAL otherwise.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filed.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	fuzz_rule(const uint8_t *, size_t);

/* The rule as the manual states it: 0 or a negative errno. */
static int
fuzz_rule(const uint8_t *p, size_t len)
{
	size_t	i;

	if (len == 0)
		return -EINVAL;
	if (len > 255)
		return -ENAMETOOLONG;
	if (len == 1 && p[0] == '.')
		return -EINVAL;
	if (len == 2 && p[0] == '.' && p[1] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (p[i] == '/' || p[i] < 0x20 || p[i] == 0x7f)
			return -EINVAL;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*p;
	int	 got, want;

	p = malloc(size > 0 ? size : 1);
	if (p == NULL)
		abort();
	memcpy(p, data, size);
	got = util_valid_name(p, size);
	want = fuzz_rule(data, size);
	free(p);
	if (got != want) {
		fprintf(stderr, "fuzz-name: util_valid_name says %d for %zu "
		    "bytes, the rule says %d\n", got, size, want);
		abort();
	}
	return 0;
}
