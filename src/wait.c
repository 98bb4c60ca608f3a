/*
 * wait.c: wait/NAME, a read that blocks until job NAME is final.
 *
 * (Being built: see issue "See and wait without polling".)
 */

#include <errno.h>

#include <fuse_lowlevel.h>

#include "filed.h"

/* Open wait/NAME of job. */
int
wait_open(struct job *job, struct wait **wp)
{
	*wp = NULL;
	return -ENOSYS;
}

/* A read of wait/NAME. */
void
wait_read(struct fuse_req *req, struct wait *w, size_t size, uint64_t off)
{
	fuse_reply_err(req, ENOSYS);
}

/* wait/NAME is closed. */
void
wait_release(struct wait *w)
{
}

/* A job changed (watch.c). */
void
wait_change(const struct change *c)
{
}

/* filed stops: answer every parked read. */
void
wait_stop(void)
{
}

/* The reads parked now. */
unsigned
wait_parked(void)
{
	return 0;
}
