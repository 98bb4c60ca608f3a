/*
 * nullfs.c: the FUSE limit for creating a job file.
 *
 *	nullfs MOUNTPOINT
 *
 * A minimal libfuse3 low-level file system, single-threaded like filed
 * (fuse_session_loop), mounted with filed's fixed options
 * (default_permissions, no kernel caching: timeouts 0, direct_io). Its one
 * directory, the root, accepts create, write, flush and release and forgets
 * what it was given: no state, no disk. bench/enq timing create+write+close
 * on it measures the round trips that any FUSE queue must pay. Stops on
 * SIGTERM or SIGINT (unmounting).
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

static fuse_ino_t	next_ino = 2;

static void
fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0640;
		st->st_nlink = 1;
	}
}

static void
nl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, ENOENT);
}

static void
nl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat	st;

	(void)fi;
	fill(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void
nl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct fuse_entry_param	e;

	(void)name;
	(void)mode;
	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, EPERM);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = next_ino++;
	e.generation = 1;
	fill(e.ino, &e.attr);
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fi->direct_io = 1;
	fi->fh = e.ino;
	fuse_reply_create(req, &e, fi);
}

static void
nl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)off;
	(void)fi;
	fuse_reply_write(req, size);
}

static void
nl_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void
nl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)datasync;
	nl_ok(req, ino, fi);
}

static void
nl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)size;
	(void)off;
	(void)fi;
	fuse_reply_buf(req, NULL, 0);
}

static void
nl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = nl_lookup,
	.forget = nl_forget,
	.getattr = nl_getattr,
	.create = nl_create,
	.write = nl_write,
	.flush = nl_ok,
	.release = nl_ok,
	.fsync = nl_fsync,
	.opendir = nl_ok,
	.readdir = nl_readdir,
	.releasedir = nl_ok,
};

int
main(int argc, char **argv)
{
	char			*fargv[] = { argv[0], "-o",
	    "default_permissions,fsname=nullfs,subtype=nullfs", NULL };
	struct fuse_args	 args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session	*se;
	int			 r;

	if (argc != 2) {
		fprintf(stderr, "usage: nullfs MOUNTPOINT\n");
		return 1;
	}
	if ((se = fuse_session_new(&args, &ops, sizeof ops, NULL)) == NULL)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		return 1;
	if (fuse_session_mount(se, argv[1]) != 0)
		return 1;
	r = fuse_session_loop(se);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return r != 0;
}
