/*
 * pool.c: objects of one size carved out of aligned pages, for what filed
 * keeps by the hundred thousand (jobs: every job in the journal is in
 * memory). malloc gives each allocation a header and rounds it up to a
 * multiple of 16 bytes, 8 to 23 bytes more per object; here an object costs
 * its size.
 *
 * - A page is POOL_PAGE bytes mapped from the system and aligned to that,
 *   so the page of an object is its address rounded down: nothing is
 *   stored per object. (Pages from malloc would leave alignment gaps.)
 * - A page's free objects are linked through their first word. Pages with
 *   room are on a list; objects come from its head, and a page that gets
 *   room again goes to its tail, so that pages tend to fill up or empty.
 * - A page whose last object is freed is unmapped at once.
 *
 * Built with AddressSanitizer, every object is an allocation of its own,
 * so that a use after free is still caught.
 */

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filed.h"

#define POOL_PAGE	65536
#define POOL_HDR	((sizeof (struct pool_page) + 15) & ~(size_t)15)

struct pool_page {
	TAILQ_ENTRY(pool_page)	 entry;		/* in the pool's room list */
	void			*free;		/* freed objects */
	unsigned		 nused;
	unsigned		 nfresh;	/* objects ever handed out */
};

#ifndef __SANITIZE_ADDRESS__
static struct pool_page *pool_map(void);
#endif

/* Set up an empty pool of objects of size bytes, aligned to a pointer. */
void
pool_init(struct pool *p, size_t size)
{
	if (size < sizeof (void *))
		size = sizeof (void *);
	size = (size + sizeof (void *) - 1) & ~(sizeof (void *) - 1);
	if (size > POOL_PAGE - POOL_HDR)
		fatalx("pool_init: objects of %zu bytes", size);
	p->size = size;
	p->perpage = (POOL_PAGE - POOL_HDR) / size;
	TAILQ_INIT(&p->room);
}

#ifdef __SANITIZE_ADDRESS__
/* Return a zeroed object. */
void *
pool_get(struct pool *p)
{
	return xcalloc(1, p->size);
}

/* Give an object back. */
void
pool_put(struct pool *p, void *v)
{
	free(v);
}
#else
/* Map a page aligned to its size: map twice as much, unmap the ends. */
static struct pool_page *
pool_map(void)
{
	uintptr_t	 start, page;
	char		*v;

	v = mmap(NULL, 2 * POOL_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		fatal("mmap");
	start = (uintptr_t)v;
	page = (start + POOL_PAGE - 1) & ~(uintptr_t)(POOL_PAGE - 1);
	if (page > start && munmap(v, page - start) != 0)
		fatal("munmap");
	if (munmap((char *)page + POOL_PAGE, start + POOL_PAGE - page) != 0)
		fatal("munmap");
	return (struct pool_page *)page;
}

/* Return a zeroed object. */
void *
pool_get(struct pool *p)
{
	struct pool_page	*pg;
	void			*v;

	if ((pg = TAILQ_FIRST(&p->room)) == NULL) {
		pg = pool_map();
		pg->free = NULL;
		pg->nused = pg->nfresh = 0;
		TAILQ_INSERT_HEAD(&p->room, pg, entry);
	}
	if ((v = pg->free) != NULL)
		memcpy(&pg->free, v, sizeof pg->free);
	else
		v = (char *)pg + POOL_HDR + pg->nfresh++ * p->size;
	if (++pg->nused == p->perpage)
		TAILQ_REMOVE(&p->room, pg, entry);
	memset(v, 0, p->size);
	return v;
}

/* Give an object back; its page is unmapped once it is empty. */
void
pool_put(struct pool *p, void *v)
{
	struct pool_page	*pg;

	pg = (struct pool_page *)((uintptr_t)v & ~(uintptr_t)(POOL_PAGE - 1));
	if (pg->nused-- == p->perpage)
		TAILQ_INSERT_TAIL(&p->room, pg, entry);
	if (pg->nused == 0) {
		TAILQ_REMOVE(&p->room, pg, entry);
		if (munmap(pg, POOL_PAGE) != 0)
			fatal("munmap");
		return;
	}
	memcpy(v, &pg->free, sizeof pg->free);
	pg->free = v;
}
#endif
