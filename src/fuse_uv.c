/*
 * fuse_uv.c: the FUSE session on the libuv loop.
 *
 * filed does not use libfuse's own loop, signal handlers or daemonizing:
 * the session is created and mounted here, and its /dev/fuse descriptor is
 * watched by a uv_poll handle. Each wake-up drains at most FUSE_BATCH
 * requests, so timers, children and journal completions stay live under a
 * flood of requests. The descriptor is non-blocking once uv_poll has it,
 * so a drain normally ends with -EAGAIN.
 *
 * When the mount goes away from outside (umount, fusermount3 -u, an abort
 * through fusectl), the kernel reports an error on the descriptor and
 * libuv stops the poll handle: filed then shuts down as for SIGTERM.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <uv.h>

#include "filed.h"
#include "fuseops.h"

#define FUSE_BATCH	64

static struct {
	struct fuse_session	*se;
	struct fuse_buf		 buf;
	uv_poll_t		 poll;
	int			 polling;
	int			 mounted;
	void			(*lost)(void);
} fu;

static void	fuse_uv_readable(uv_poll_t *, int, int);
static void	fuse_uv_closed(uv_handle_t *);
static int	fuse_uv_allow_other(void);

/* May this user mount with allow_other? Root may; others need fuse.conf. */
static int
fuse_uv_allow_other(void)
{
	FILE	*f;
	char	 line[256];
	int	 ok = 0;

	if (geteuid() == 0)
		return 1;
	if ((f = fopen("/etc/fuse.conf", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line + strspn(line, " \t"), "user_allow_other") == 0)
			ok = 1;
	}
	fclose(f);
	return ok;
}

/*
 * Mount the tree on mountpoint with extra options opts (may be NULL) and
 * start serving it on loop. lost is called when the mount goes away.
 * Returns 0, or -1 after logging why.
 */
int
fuse_uv_start(uv_loop_t *loop, const char *mountpoint, const char *opts,
    void (*lost)(void))
{
	struct fuse_args	 args = FUSE_ARGS_INIT(0, NULL);
	char			*o;
	int			 other;

	other = fuse_uv_allow_other();
	if (!other)
		log_warnx("not root and no user_allow_other in "
		    "/etc/fuse.conf: other users cannot reach the mount");
	o = xasprintf("default_permissions,fsname=filed,subtype=filed%s",
	    other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "filed") != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, o) != 0 ||
	    (opts != NULL && (fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, opts) != 0)))
		fatalx("fuse_opt_add_arg: out of memory");
	free(o);
	fu.se = fuse_session_new(&args, fsops_table(),
	    sizeof(struct fuse_lowlevel_ops), NULL);
	fuse_opt_free_args(&args);
	if (fu.se == NULL) {
		log_warnx("cannot set up the FUSE session (bad -o option?)");
		return -1;
	}
	if (fuse_session_mount(fu.se, mountpoint) != 0) {
		log_warnx("cannot mount on %s", mountpoint);
		fuse_session_destroy(fu.se);
		fu.se = NULL;
		return -1;
	}
	fu.mounted = 1;
	fu.lost = lost;
	if (uv_poll_init(loop, &fu.poll, fuse_session_fd(fu.se)) != 0)
		fatalx("uv_poll_init on /dev/fuse failed");
	uv_poll_start(&fu.poll, UV_READABLE, fuse_uv_readable);
	fu.polling = 1;
	return 0;
}

/* /dev/fuse is readable: handle a bounded batch of requests. */
static void
fuse_uv_readable(uv_poll_t *h, int status, int events)
{
	int	i, n;

	if (status < 0) {
		log_info("the mount went away (%s)", uv_strerror(status));
		uv_poll_stop(&fu.poll);
		fu.mounted = 0;
		if (fu.lost != NULL)
			fu.lost();
		return;
	}
	/* The records of the requests read here go out as one batch. */
	queue_cork(1);
	for (i = 0; i < FUSE_BATCH; i++) {
		n = fuse_session_receive_buf(fu.se, &fu.buf);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			break;
		if (n <= 0 || fuse_session_exited(fu.se)) {
			log_info("the mount went away (%s)",
			    n < 0 ? strerror(-n) : "unmounted");
			uv_poll_stop(&fu.poll);
			fu.mounted = 0;
			if (fu.lost != NULL)
				fu.lost();
			break;
		}
		/*
		 * Count it by opcode. A spliced request (FUSE_BUF_IS_FD)
		 * has its header in a pipe, but filed has no write_buf, so
		 * libfuse splices none.
		 */
		if (!(fu.buf.flags & FUSE_BUF_IS_FD))
			stats_fuse_requests[FUSEOPS_SLOT(((const struct
			    fuse_in_header *)fu.buf.mem)->opcode)]++;
		fuse_session_process_buf(fu.se, &fu.buf);
	}
	queue_cork(0);
}

/* The poll handle is closed: now the session can go. */
static void
fuse_uv_closed(uv_handle_t *h)
{
	fuse_session_unmount(fu.se);
	fuse_session_destroy(fu.se);
	fu.se = NULL;
	free(fu.buf.mem);
	fu.buf.mem = NULL;
}

/* Stop serving and unmount; the rest happens as the loop closes handles. */
void
fuse_uv_stop(void)
{
	if (fu.se == NULL || !fu.polling)
		return;
	fu.polling = 0;
	uv_poll_stop(&fu.poll);
	fuse_session_exit(fu.se);
	uv_close((uv_handle_t *)&fu.poll, fuse_uv_closed);
}
