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
 *
 * It counts the requests the kernel sends it, by opcode, as filed's stats
 * do, and prints the counts so far on SIGUSR1 and at exit, one line on
 * standard error: "requests TOTAL OP=N ..." (the opcodes seen, in lower
 * case, as filed_fuse_requests_total names them).
 */

#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fuseops.h"

static fuse_ino_t		next_ino = 2;
static unsigned long long	nreq[FUSEOPS_N];
static volatile sig_atomic_t	report;

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

/* SIGUSR1: print the counts at the next wake-up of the loop. */
static void
on_usr1(int sig)
{
	(void)sig;
	report = 1;
}

/* Print the requests counted so far, on standard error. */
static void
print_counts(void)
{
	unsigned long long	total = 0;
	unsigned		i;

	for (i = 0; i < FUSEOPS_N; i++)
		total += nreq[i];
	fprintf(stderr, "requests %llu", total);
	for (i = 0; i < FUSEOPS_N; i++) {
		if (nreq[i] != 0)
			fprintf(stderr, " %s=%llu", fuseops_name[i] != NULL ?
			    fuseops_name[i] : "other", nreq[i]);
	}
	fputc('\n', stderr);
}

/*
 * fuse_session_loop, counting each request by the opcode in its header;
 * a signal interrupts the read, so SIGUSR1 is answered at once.
 */
static int
serve(struct fuse_session *se)
{
	struct fuse_buf	buf;
	int		r = 0;

	memset(&buf, 0, sizeof buf);
	while (!fuse_session_exited(se)) {
		r = fuse_session_receive_buf(se, &buf);
		if (report) {
			report = 0;
			print_counts();
		}
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		if (!(buf.flags & FUSE_BUF_IS_FD))
			nreq[FUSEOPS_SLOT(((const struct fuse_in_header *)
			    buf.mem)->opcode)]++;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
	return r < 0 && r != -EINTR ? -1 : 0;
}

int
main(int argc, char **argv)
{
	char			*fargv[] = { argv[0], "-o",
	    "default_permissions,fsname=nullfs,subtype=nullfs", NULL };
	struct fuse_args	 args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session	*se;
	struct sigaction	 sa;
	int			 r;

	if (argc != 2) {
		fprintf(stderr, "usage: nullfs MOUNTPOINT\n");
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	fuse_opt_free_args(&args);
	if (se == NULL)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		return 1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;	/* no SA_RESTART: wake the read */
	sigaction(SIGUSR1, &sa, NULL);
	if (fuse_session_mount(se, argv[1]) != 0)
		return 1;
	r = serve(se);
	print_counts();
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return r != 0;
}
