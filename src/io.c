/*
 * io.c: the one seam every write to the state directory goes through.
 *
 * - Opening, writing, syncing, renaming, truncating, unlinking and closing
 *   the files of STATEDIR (the journal, journal.new, filed.ini and its
 *   temporary file, the directory itself for its fsync) is done by the
 *   functions here and by nothing else. Reads stay plain read(2): they
 *   change nothing a crash could lose.
 * - Each function calls through a table of operations, the real system
 *   calls unless a test installed its own with io_set_ops. A test backend
 *   can then keep only what was synced, undo directory operations not yet
 *   made durable, or fail a chosen call, and do so deterministically
 *   (t/unit-crash.c simulates power loss at every sync this way).
 * - The io_* functions behave like the system calls: -1 with errno.
 * - The io_fs_* functions replace the uv_fs_* calls journal.c made, with
 *   the same arguments and the same completion: the operation runs on
 *   libuv's thread pool (through uv_queue_work) and cb(req) then runs on
 *   the loop with req->result the result or a negative libuv error, and
 *   req->data and req->fs_type as the caller expects. uv_fs_req_cleanup
 *   on such a request does nothing. Paths and buffer lists are copied, as
 *   libuv copies them; the bytes a write points to must stay put until
 *   cb runs.
 * - A write is carried out in full or until the first error, as
 *   uv_fs_write does: its result is then the bytes written, if any.
 * - The table is only swapped while nothing is in flight; a test backend
 *   is called from the thread pool and must lock its own state.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

/* One io_fs_* request on its way through the thread pool. */
struct io_work {
	uv_work_t	 work;
	uv_fs_t		*req;
	uv_fs_cb	 cb;
	uv_fs_type	 type;
	uv_file		 fd;
	int		 flags;
	int		 mode;
	char		*path;
	char		*new_path;
	uv_buf_t	*bufs;
	unsigned int	 nbufs;
	int64_t		 off;
	ssize_t		 result;
	int		*sync_error;	/* io_fs_write_sync: its fdatasync */
	int		 sync_result;
	ssize_t		 sync_want;	/* the bytes of a full write */
};

static int	 io_real_open(const char *, int, mode_t);
static ssize_t	 io_write_all(int, const uv_buf_t *, unsigned int,
		     int64_t);
static struct io_work *io_work_new(uv_fs_t *, uv_fs_type, uv_fs_cb);
static int	 io_work_queue(uv_loop_t *, struct io_work *);
static void	 io_work_run(uv_work_t *);
static void	 io_work_done(uv_work_t *, int);

static const struct io_ops io_real = {
	.open = io_real_open,
	.pwrite = pwrite,
	.write = write,
	.fdatasync = fdatasync,
	.fsync = fsync,
	.rename = rename,
	.ftruncate = ftruncate,
	.unlink = unlink,
	.close = close
};
static const struct io_ops *io_ops = &io_real;

/* open(2) has a variadic mode: give it a fixed signature for the table. */
static int
io_real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

/*
 * Install a table of operations (a test backend), or the real system
 * calls again with NULL. Only while no io_fs_* request is in flight.
 */
void
io_set_ops(const struct io_ops *ops)
{
	io_ops = ops != NULL ? ops : &io_real;
}

/* The real system calls, for a backend that passes operations on. */
const struct io_ops *
io_real_ops(void)
{
	return &io_real;
}

/* open(2) through the seam, retried on EINTR. */
int
io_open(const char *path, int flags, mode_t mode)
{
	int	fd;

	do
		fd = io_ops->open(path, flags, mode);
	while (fd == -1 && errno == EINTR);
	return fd;
}

/* pwrite(2) through the seam, retried on EINTR. */
ssize_t
io_pwrite(int fd, const void *data, size_t len, off_t off)
{
	ssize_t	n;

	do
		n = io_ops->pwrite(fd, data, len, off);
	while (n == -1 && errno == EINTR);
	return n;
}

/* write(2) through the seam, retried on EINTR. */
ssize_t
io_write(int fd, const void *data, size_t len)
{
	ssize_t	n;

	do
		n = io_ops->write(fd, data, len);
	while (n == -1 && errno == EINTR);
	return n;
}

/* fdatasync(2) through the seam. A failure is never retried. */
int
io_fdatasync(int fd)
{
	return io_ops->fdatasync(fd);
}

/* fsync(2) through the seam, for a file or a directory. */
int
io_fsync(int fd)
{
	return io_ops->fsync(fd);
}

/* rename(2) through the seam. */
int
io_rename(const char *from, const char *to)
{
	return io_ops->rename(from, to);
}

/* ftruncate(2) through the seam, retried on EINTR. */
int
io_ftruncate(int fd, off_t len)
{
	int	rv;

	do
		rv = io_ops->ftruncate(fd, len);
	while (rv == -1 && errno == EINTR);
	return rv;
}

/* unlink(2) through the seam. */
int
io_unlink(const char *path)
{
	return io_ops->unlink(path);
}

/* close(2) through the seam; the descriptor is gone whatever it returns. */
int
io_close(int fd)
{
	return io_ops->close(fd);
}

/*
 * Write the buffers at off (or at the file position if off < 0), each in
 * full, stopping at the first error: the bytes written, or -1 (errno) if
 * there were none.
 */
static ssize_t
io_write_all(int fd, const uv_buf_t *bufs, unsigned int nbufs, int64_t off)
{
	ssize_t		 n, total = 0;
	unsigned int	 i;
	size_t		 done;

	for (i = 0; i < nbufs; i++) {
		done = 0;
		while (done < bufs[i].len) {
			if (off >= 0) {
				n = io_pwrite(fd, bufs[i].base + done,
				    bufs[i].len - done, (off_t)(off + total));
			} else {
				n = io_write(fd, bufs[i].base + done,
				    bufs[i].len - done);
			}
			if (n <= 0)
				return total > 0 ? total : n;
			done += (size_t)n;
			total += n;
		}
	}
	return total;
}

/*
 * Start a request: make req look like a finished uv_fs_t whose cleanup
 * has nothing to free, keeping the caller's req->data.
 */
static struct io_work *
io_work_new(uv_fs_t *req, uv_fs_type type, uv_fs_cb cb)
{
	struct io_work	*w;
	void		*data = req->data;

	memset(req, 0, sizeof *req);
	req->data = data;
	req->type = UV_FS;
	req->fs_type = type;

	w = xcalloc(1, sizeof *w);
	w->req = req;
	w->cb = cb;
	w->type = type;
	w->fd = -1;
	w->off = -1;
	return w;
}

/* Hand a request to the thread pool; a libuv error if it cannot go. */
static int
io_work_queue(uv_loop_t *loop, struct io_work *w)
{
	int	r;

	w->req->loop = loop;
	w->work.data = w;
	if ((r = uv_queue_work(loop, &w->work, io_work_run,
	    io_work_done)) != 0) {
		free(w->path);
		free(w->new_path);
		free(w->bufs);
		free(w);
	}
	return r;
}

/* On the thread pool: do the operation. */
static void
io_work_run(uv_work_t *work)
{
	struct io_work	*w = work->data;
	ssize_t		 n = 0;

	switch (w->type) {
	case UV_FS_OPEN:
		n = io_open(w->path, w->flags, (mode_t)w->mode);
		break;
	case UV_FS_WRITE:
		n = io_write_all(w->fd, w->bufs, w->nbufs, w->off);
		if (w->sync_error != NULL && n == w->sync_want) {
			w->result = n;
			w->sync_result = io_fdatasync(w->fd) == -1 ? -errno : 0;
			return;
		}
		w->sync_result = 0;
		break;
	case UV_FS_FDATASYNC:
		n = io_fdatasync(w->fd);
		break;
	case UV_FS_FSYNC:
		n = io_fsync(w->fd);
		break;
	case UV_FS_RENAME:
		n = io_rename(w->path, w->new_path);
		break;
	case UV_FS_FTRUNCATE:
		n = io_ftruncate(w->fd, (off_t)w->off);
		break;
	case UV_FS_UNLINK:
		n = io_unlink(w->path);
		break;
	case UV_FS_CLOSE:
		n = io_close(w->fd);
		break;
	default:
		fatalx("io: request type %d", (int)w->type);
	}
	/* libuv's errors are negative errnos on Unix. */
	w->result = n == -1 ? -errno : n;
}

/* Back on the loop: give the caller its result. */
static void
io_work_done(uv_work_t *work, int status)
{
	struct io_work	*w = work->data;
	uv_fs_t		*req = w->req;
	uv_fs_cb	 cb = w->cb;

	req->result = status != 0 ? status : w->result;
	if (w->sync_error != NULL)
		*w->sync_error = status != 0 ? 0 : w->sync_result;
	free(w->path);
	free(w->new_path);
	free(w->bufs);
	free(w);
	cb(req);
}

/* uv_fs_open through the seam. */
int
io_fs_open(uv_loop_t *loop, uv_fs_t *req, const char *path, int flags,
    int mode, uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_OPEN, cb);
	w->path = xstrdup(path);
	w->flags = flags;
	w->mode = mode;
	return io_work_queue(loop, w);
}

/* uv_fs_write through the seam (off < 0: at the file position). */
int
io_fs_write(uv_loop_t *loop, uv_fs_t *req, uv_file fd, const uv_buf_t bufs[],
    unsigned int nbufs, int64_t off, uv_fs_cb cb)
{
	struct io_work	*w;

	if (bufs == NULL || nbufs == 0)
		return UV_EINVAL;
	w = io_work_new(req, UV_FS_WRITE, cb);
	w->fd = fd;
	w->bufs = xreallocarray(NULL, nbufs, sizeof *bufs);
	memcpy(w->bufs, bufs, nbufs * sizeof *bufs);
	w->nbufs = nbufs;
	w->off = off;
	return io_work_queue(loop, w);
}

/*
 * io_fs_write of one buffer at the file position, then, if all of it was
 * written, an fdatasync of fd in the same trip through the thread pool
 * (one hand-over each way instead of two): req->result is the write's
 * result, *sync_error the fdatasync's (0 or a negative errno), set before
 * cb runs, and 0 if the write came short and there was no fdatasync.
 */
int
io_fs_write_sync(uv_loop_t *loop, uv_fs_t *req, uv_file fd,
    const uv_buf_t *buf, int *sync_error, uv_fs_cb cb)
{
	struct io_work	*w;

	if (buf == NULL || buf->len == 0 || buf->len > SSIZE_MAX)
		return UV_EINVAL;
	w = io_work_new(req, UV_FS_WRITE, cb);
	w->fd = fd;
	w->bufs = xreallocarray(NULL, 1, sizeof *buf);
	w->bufs[0] = *buf;
	w->nbufs = 1;
	w->sync_error = sync_error;
	w->sync_want = (ssize_t)buf->len;
	return io_work_queue(loop, w);
}

/* uv_fs_fdatasync through the seam. */
int
io_fs_fdatasync(uv_loop_t *loop, uv_fs_t *req, uv_file fd, uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_FDATASYNC, cb);
	w->fd = fd;
	return io_work_queue(loop, w);
}

/* uv_fs_fsync through the seam, for a file or a directory. */
int
io_fs_fsync(uv_loop_t *loop, uv_fs_t *req, uv_file fd, uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_FSYNC, cb);
	w->fd = fd;
	return io_work_queue(loop, w);
}

/* uv_fs_rename through the seam. */
int
io_fs_rename(uv_loop_t *loop, uv_fs_t *req, const char *from, const char *to,
    uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_RENAME, cb);
	w->path = xstrdup(from);
	w->new_path = xstrdup(to);
	return io_work_queue(loop, w);
}

/* uv_fs_ftruncate through the seam. */
int
io_fs_ftruncate(uv_loop_t *loop, uv_fs_t *req, uv_file fd, int64_t len,
    uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_FTRUNCATE, cb);
	w->fd = fd;
	w->off = len;
	return io_work_queue(loop, w);
}

/* uv_fs_unlink through the seam. */
int
io_fs_unlink(uv_loop_t *loop, uv_fs_t *req, const char *path, uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_UNLINK, cb);
	w->path = xstrdup(path);
	return io_work_queue(loop, w);
}

/* uv_fs_close through the seam. */
int
io_fs_close(uv_loop_t *loop, uv_fs_t *req, uv_file fd, uv_fs_cb cb)
{
	struct io_work	*w;

	w = io_work_new(req, UV_FS_CLOSE, cb);
	w->fd = fd;
	return io_work_queue(loop, w);
}
