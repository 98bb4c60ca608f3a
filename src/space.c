/*
 * space.c: disk space held back for the jobs filed has already accepted.
 *
 * A full disk must refuse new jobs, never strand accepted ones: a job that
 * was queued must still be able to record that it started, ended, failed
 * or was removed. So filed keeps STATEDIR/reserve, a file whose blocks are
 * allocated (fallocate) and never written: the space accepted jobs may
 * still need, SPACE_BASE plus SPACE_PER_JOB for each job that is not
 * finished. When the journal refuses one of those records for want of
 * space, the reserve gives some back (space_release) and the record is
 * written again; new jobs get no such help, so they are refused first.
 *
 * The check for a new job happens as its text arrives: space_check tries
 * to allocate the bytes the job's record will take, beyond the reserve,
 * and gives them back at once, so that write(2) fails with ENOSPC (which
 * shells report) rather than only close(2) (which they ignore).
 *
 * Allocating and freeing blocks is metadata work on a file that is never
 * synced; it is done on the loop, and only when the target moved by more
 * than SPACE_SLACK. It is not free (freeing blocks costs a tenth of a
 * millisecond on some file systems), so space_check only allocates when
 * the file system's own count (fstatvfs) says the disk is nearly full:
 * with SPACE_EASY to spare beyond the need, there is room.
 */

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filed.h"

#define SPACE_BASE	(1024 * 1024)	/* compaction, rm, settings */
#define SPACE_PER_JOB	1024		/* a few attempts' start and end */
#define SPACE_SLACK	(64 * 1024)
#define SPACE_CHUNK	(64 * 1024)	/* given back per refused record */
#define SPACE_EASY	(64 * 1024 * 1024) /* free beyond this: no test */

static struct {
	char		*path;
	int		 fd;
	uint64_t	 size;		/* allocated now */
	uint64_t	 target;	/* what the accepted jobs need */
	int		 short_logged;
	int		 root;		/* may use the blocks kept for root */
	int64_t		 lent_until;	/* no growing back before this */
} sp = { NULL, -1, 0, 0, 0, 0, 0 };

static int	space_allocate(uint64_t);

/* Open (or create) STATEDIR/reserve. */
void
space_init(const char *statedir)
{
	struct stat	st;

	sp.path = xasprintf("%s/reserve", statedir);
	sp.fd = open(sp.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp.fd == -1 || fstat(sp.fd, &st) == -1)
		fatal("%s", sp.path);
	sp.size = (uint64_t)st.st_size;
	sp.target = SPACE_BASE;
	sp.root = geteuid() == 0;
}

/* Close the reserve file (it stays, holding its space, for next time). */
void
space_free(void)
{
	if (sp.fd != -1)
		close(sp.fd);
	sp.fd = -1;
	free(sp.path);
	sp.path = NULL;
}

/* Make the reserve size bytes long, allocating its blocks. */
static int
space_allocate(uint64_t size)
{
	int	error;

	if (size > sp.size) {
		if ((error = posix_fallocate(sp.fd, 0, (off_t)size)) != 0) {
			errno = error;
			return -1;
		}
	} else if (ftruncate(sp.fd, (off_t)size) == -1)
		return -1;
	sp.size = size;
	return 0;
}

/*
 * The number of unfinished jobs is now n: move the reserve towards what
 * they need. Growing may fail on a full disk; it is tried again at the
 * next change.
 */
void
space_adjust(uint64_t n)
{
	uint64_t	target = SPACE_BASE + n * SPACE_PER_JOB;

	sp.target = target;
	if (sp.fd == -1 || util_now() < sp.lent_until)
		return;
	if (sp.size >= target && sp.size - target <= SPACE_SLACK)
		return;
	/* Grow with some room, so that not every new job allocates. */
	if (sp.size < target)
		target += SPACE_SLACK / 2;
	if (space_allocate(target) == -1) {
		if (!sp.short_logged)
			log_warnx("%s: cannot reserve %llu bytes for the "
			    "accepted jobs: %s", sp.path,
			    (unsigned long long)target, strerror(errno));
		sp.short_logged = 1;
		return;
	}
	sp.short_logged = 0;
}

/*
 * Is there room for need more bytes beyond the reserve? Allocate them at
 * the end of the reserve and give them back. 0, or -ENOSPC (or another
 * negative errno).
 */
int
space_check(uint64_t need)
{
	struct statvfs	vfs;
	uint64_t	size = sp.size, avail;
	int		error;

	if (sp.fd == -1 || need == 0)
		return 0;
	if (size >= sp.target && fstatvfs(sp.fd, &vfs) == 0) {
		/* Root may use the blocks kept for root, as fallocate does. */
		avail = (uint64_t)(sp.root ? vfs.f_bfree :
		    vfs.f_bavail) * vfs.f_frsize;
		if (avail >= need && avail - need >= SPACE_EASY)
			return 0;
	}
	if (size < sp.target) {
		/* Catch up first: the reserve comes before new jobs. */
		if (space_allocate(sp.target) == -1)
			return -errno;
		size = sp.size;
	}
	if ((error = posix_fallocate(sp.fd, (off_t)size, (off_t)need)) != 0)
		return -error;
	if (ftruncate(sp.fd, (off_t)size) == -1)
		return -errno;
	return 0;
}

/*
 * The disk is full and the journal may hold much that is no longer live:
 * lend the whole reserve to a compaction, which needs room for the new
 * journal before the old one goes. The reserve grows back once the lending
 * time is over, out of the space the old journal left.
 */
void
space_lend(void)
{
	if (sp.fd == -1 || sp.size == 0)
		return;
	if (ftruncate(sp.fd, 0) == -1) {
		log_warn("%s: ftruncate", sp.path);
		return;
	}
	log_info("disk full: lending %llu bytes of the reserve to a "
	    "compaction of the journal", (unsigned long long)sp.size);
	sp.size = 0;
	sp.lent_until = util_now() + 5 * 1000000000LL;
}

/*
 * A record of an accepted job was refused for want of space: give back
 * part of the reserve so that it can be written. Returns 0 if something
 * was given back, -1 if the reserve is empty.
 */
int
space_release(void)
{
	uint64_t	give;

	if (sp.fd == -1 || sp.size == 0)
		return -1;
	give = sp.size < SPACE_CHUNK ? sp.size : SPACE_CHUNK;
	if (ftruncate(sp.fd, (off_t)(sp.size - give)) == -1) {
		log_warn("%s: ftruncate", sp.path);
		return -1;
	}
	sp.size -= give;
	log_info("disk full: %llu bytes of the reserve given back for the "
	    "jobs already accepted", (unsigned long long)give);
	return 0;
}
