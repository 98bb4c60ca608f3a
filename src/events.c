/*
 * events.c: the events stream, one line per change of a job.
 *
 * (Being built: see issue "See and wait without polling".)
 */

#include <errno.h>
#include <stddef.h>

#include <fuse_lowlevel.h>

#include "filed.h"

/* A reader opens events. */
struct events_reader *
events_open(void)
{
	return NULL;
}

/* A read of events. */
void
events_read(struct fuse_req *req, struct events_reader *r, size_t size)
{
	fuse_reply_err(req, ENOSYS);
}

/* poll(2) of events. */
void
events_poll(struct fuse_req *req, struct events_reader *r,
    struct fuse_pollhandle *ph)
{
	if (ph != NULL)
		fuse_pollhandle_destroy(ph);
	fuse_reply_err(req, ENOSYS);
}

/* events is closed. */
void
events_release(struct events_reader *r)
{
}

/* A job changed (watch.c). */
void
events_change(const struct change *c)
{
}

/* filed stops: answer every parked read. */
void
events_stop(void)
{
}

/* The reads parked now. */
unsigned
events_parked(void)
{
	return 0;
}
