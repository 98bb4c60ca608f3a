/*
 * text.c: the text of a job while it is written, one working copy a job.
 *
 * A job being written and a draft open for writing have one working copy
 * of their text, shared by every open file that may write it, as a file's
 * contents are shared by every process that has it open: two shells
 * appending to one draft with >> each add their lines, and a write with
 * O_APPEND lands at the copy's end, whoever wrote last. The copy is made
 * from the saved text (queue_text) when the first writer opens the job and
 * dropped when the last one is released.
 *
 * Saving is the journal's business (queue_submit, queue_set_text): a close
 * or fsync saves the whole copy when it has changed since the last save.
 * wgen counts the changes to the copy and cgen is wgen as last saved, so a
 * close that finds them equal has nothing to save, whichever writer made
 * the change and whichever close saved it. Nothing here touches the
 * journal, the loop or FUSE.
 */

#include <errno.h>
#include <stdlib.h>

#include "filed.h"

/*
 * A writer opens job: make the working copy from the saved text if it has
 * none, and empty it if trunc (O_TRUNC).
 */
void
text_attach(struct job *job, int trunc)
{
	struct job_live	*l = queue_live(job);

	if (l->work == NULL) {
		l->work = xmalloc(sizeof *l->work);
		buf_init(l->work);
		buf_add(l->work, queue_text(job), job->textlen);
		l->wgen = l->cgen = 0;
	}
	l->nwriters++;
	if (trunc && l->work->len != 0) {
		l->work->len = 0;
		l->work->data[0] = '\0';
		l->wgen++;
	}
}

/* A writer of job is released; the last one drops the working copy. */
void
text_detach(struct job *job)
{
	struct job_live	*l = job->live;

	if (l == NULL || l->nwriters == 0 || --l->nwriters > 0)
		return;
	buf_free(l->work);
	free(l->work);
	l->work = NULL;
}

/*
 * Write size bytes at off into job's working copy, or at its end if
 * append. Returns 0, or -EFBIG (nothing written) if the text would grow
 * beyond max bytes.
 */
int
text_write(struct job *job, const void *data, size_t size, uint64_t off,
    int append, uint64_t max)
{
	struct buf	*w = job->live->work;

	if (append)
		off = w->len;
	if (off > max || size > max - off)
		return -EFBIG;
	buf_set(w, (size_t)off, data, size);
	job->live->wgen++;
	return 0;
}

/*
 * Make job's working copy len bytes long, cutting it or adding zero
 * bytes. Returns 0, or -EFBIG (nothing changed) beyond max bytes.
 */
int
text_truncate(struct job *job, uint64_t len, uint64_t max)
{
	struct buf	*w = job->live->work;

	if (len > max)
		return -EFBIG;
	if (len < w->len) {
		w->len = (size_t)len;
		w->data[w->len] = '\0';
	} else if (len > w->len)
		buf_set(w, (size_t)len, "", 0);
	job->live->wgen++;
	return 0;
}

/* The text a read of job sees: the working copy if any, else the saved. */
const char *
text_data(const struct job *job, size_t *len)
{
	const struct job_live	*l = job->live;

	if (l != NULL && l->work != NULL) {
		*len = l->work->len;
		return l->work->data != NULL ? l->work->data : "";
	}
	*len = job->textlen;
	return queue_text(job);
}

/* Has job's working copy changed since it was last saved? */
int
text_dirty(const struct job *job)
{
	const struct job_live	*l = job->live;

	return l != NULL && l->work != NULL && l->wgen != l->cgen;
}

/* The generation of job's working copy, to name what a save holds. */
unsigned
text_gen(const struct job *job)
{
	return job->live->wgen;
}

/* A save of job's working copy at generation gen is on stable storage. */
void
text_saved(struct job *job, unsigned gen)
{
	struct job_live	*l = job->live;

	/* Saves complete in order, but a later one may have been refused. */
	if (l != NULL && l->work != NULL && (int)(gen - l->cgen) > 0)
		l->cgen = gen;
}
