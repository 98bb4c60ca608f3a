/*
 * stats.c: the stats file, in the Prometheus text format.
 *
 * (Being built: see issue "See and wait without polling".)
 */

#include "filed.h"

/* Set up the counters. */
void
stats_init(const struct conf *conf, struct journal *j)
{
}

/* A job changed (watch.c). */
void
stats_change(const struct change *c)
{
}

/* Render the file as it is now into b. */
void
stats_render(struct buf *b)
{
}
