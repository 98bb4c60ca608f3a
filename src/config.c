/*
 * config.c: config.json, the settings file of the mount; every change of
 * the settings, from config.json or SIGHUP, goes through one queue.
 *
 * - A change is a config.json document, handed over by the close() that
 *   ends its write (config_submit), or a reload of the INI file that
 *   SIGHUP asks for (config_reload). Changes wait in a FIFO, and only one
 *   at a time is on the thread pool: two saves never write PATH.tmp at
 *   once, and a reload queued behind a save reads the file that save
 *   wrote. A reload asked for while another is queued and not started is
 *   merged into it.
 * - A document may hold any subset of the keys. It is validated in full
 *   when it is submitted (a bad one is EINVAL at once and never queued),
 *   but for what only the file system can say (that a workdir it sets is
 *   a directory), which is checked on the thread pool when its turn comes
 *   (EINVAL too, nothing changed). It is applied then, on top of the
 *   settings in force at that moment: two writers of different keys both
 *   take effect, and of two writers of the same key the one whose turn
 *   comes later wins.
 * - Memory, the INI file and the reply agree. The settings in memory
 *   change only after conf_save has made the new file durable, and only
 *   then is the close() answered 0. A save that fails before its rename
 *   left the old file whole: EIO, nothing changed. One that fails after
 *   it (the directory fsync) may have put the new file in place for good,
 *   or not: the settings in force are saved again the same way, and the
 *   close() gets EIO once that worked. If that fails too, the disk that
 *   holds the settings is failing and no reply could stay true across a
 *   crash: filed logs it and exits without answering.
 * - Only the loop touches cf; the work function reads its own change and
 *   the path, which does not change while filed runs.
 */

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "filed.h"

enum config_kind {
	CONFIG_SAVE,			/* a config.json document */
	CONFIG_RELOAD			/* SIGHUP: read the INI file again */
};

enum config_outcome {
	CONFIG_DONE,			/* saved or loaded: apply it */
	CONFIG_INVALID,			/* refused by conf_check_dirs */
	CONFIG_KEPT,			/* failed; the file is as it was */
	CONFIG_RESTORED,		/* failed after the rename; put back */
	CONFIG_LOST			/* and putting it back failed too */
};

struct config_change {
	enum config_kind	 kind;
	char			*json;		/* CONFIG_SAVE: the document */
	size_t			 len;
	void			(*done)(void *, int);
	void			*arg;
	struct conf		 old;		/* in force when its turn came */
	struct conf		 new;		/* what it makes of them */
	enum config_outcome	 outcome;
	char			*cause;		/* why the save or load failed */
	char			*cause2;	/* why the restore failed */
	uv_work_t		 work;
	TAILQ_ENTRY(config_change) entry;
};
TAILQ_HEAD(config_changes, config_change);

static struct {
	uv_loop_t		*loop;
	struct conf		*conf;		/* the settings in force */
	char			*path;		/* the INI file */
	struct config_changes	 queue;		/* waiting, oldest first */
	struct config_change	*running;	/* on the thread pool */
	struct config_change	*reload;	/* a reload not started yet */
} cf;

static struct config_change *config_change_new(enum config_kind);
static void	 config_change_free(struct config_change *);
static void	 config_next(void);
static void	 config_work(uv_work_t *);
static void	 config_after(uv_work_t *, int);
static void	 config_saved(struct config_change *);
static void	 config_reloaded(struct config_change *);

/* Set up the queue: the settings in force are *conf, saved at path. */
void
config_init(struct uv_loop_s *loop, struct conf *conf, const char *path)
{
	memset(&cf, 0, sizeof cf);
	cf.loop = loop;
	cf.conf = conf;
	cf.path = xstrdup(path);
	TAILQ_INIT(&cf.queue);
}

/* Release what config_init took; the queue is empty by then. */
void
config_free(void)
{
	free(cf.path);
	cf.path = NULL;
}

/* Is a change waiting or being carried out? Shutdown waits for none. */
int
config_busy(void)
{
	return cf.running != NULL || !TAILQ_EMPTY(&cf.queue);
}

/* Render the settings in force as config.json reads (caller frees). */
char *
config_json(void)
{
	return conf_to_json(cf.conf);
}

/*
 * Check a config.json write in progress, the len bytes written so far:
 * 0 if they are valid or may still become so, -EINVAL (logged) if they
 * are invalid whatever follows.
 */
int
config_check(const char *json, size_t len)
{
	char	*cause = NULL;

	if (conf_json_check(json, len, cf.conf, &cause) == 0)
		return 0;
	log_warnx("%s", cause);
	free(cause);
	return -EINVAL;
}

/* Make a change of kind. */
static struct config_change *
config_change_new(enum config_kind kind)
{
	struct config_change	*ch;

	ch = xcalloc(1, sizeof *ch);
	ch->kind = kind;
	ch->work.data = ch;
	return ch;
}

/* Free a change once it is done. */
static void
config_change_free(struct config_change *ch)
{
	free(ch->json);
	free(ch->cause);
	free(ch->cause2);
	free(ch);
}

/*
 * Queue a config.json document (len bytes, copied) written through one
 * handle: validated now, and -EINVAL (logged) if it is not valid, with
 * done never called. Otherwise return 0: done(arg, error) is called once
 * its turn came, with 0 once the new settings are durable and in force,
 * or a negative errno if nothing changed.
 */
int
config_submit(const char *json, size_t len, void (*done)(void *, int),
    void *arg)
{
	struct config_change	*ch;
	struct conf		 c;
	char			*cause = NULL;

	if (conf_from_json(json, len, cf.conf, &c, &cause) != 0) {
		log_warnx("%s", cause);
		free(cause);
		return -EINVAL;
	}
	ch = config_change_new(CONFIG_SAVE);
	ch->json = xmalloc(len + 1);
	memcpy(ch->json, json, len);
	ch->json[len] = '\0';
	ch->len = len;
	ch->done = done;
	ch->arg = arg;
	TAILQ_INSERT_TAIL(&cf.queue, ch, entry);
	config_next();
	return 0;
}

/* SIGHUP: queue a reload of the INI file, unless one is waiting already. */
void
config_reload(void)
{
	if (cf.reload != NULL) {
		log_debug("SIGHUP: a reload of %s is already waiting",
		    cf.path);
		return;
	}
	log_info("SIGHUP: reloading %s", cf.path);
	notify_reloading();
	cf.reload = config_change_new(CONFIG_RELOAD);
	TAILQ_INSERT_TAIL(&cf.queue, cf.reload, entry);
	config_next();
}

/*
 * Start the oldest change, unless one is on the thread pool. A document
 * is decoded here again, on top of the settings in force now, which the
 * changes before it may have changed since it was submitted; the values
 * it holds were valid then and still are.
 */
static void
config_next(void)
{
	struct config_change	*ch;
	int			 error;

	while (cf.running == NULL && (ch = TAILQ_FIRST(&cf.queue)) != NULL) {
		TAILQ_REMOVE(&cf.queue, ch, entry);
		if (ch == cf.reload)
			cf.reload = NULL;
		ch->old = *cf.conf;
		if (ch->kind == CONFIG_SAVE && conf_from_json(ch->json,
		    ch->len, &ch->old, &ch->new, &ch->cause) != 0) {
			log_warnx("%s", ch->cause);
			ch->done(ch->arg, -EINVAL);
			config_change_free(ch);
			continue;
		}
		if ((error = uv_queue_work(cf.loop, &ch->work, config_work,
		    config_after)) != 0)
			fatalx("uv_queue_work: %s", uv_strerror(error));
		cf.running = ch;
	}
}

/*
 * On the thread pool: check the new settings against the file system,
 * save them (temp file, fsync, rename, directory fsync), and if that
 * failed after the rename, save the old ones again the same way; or, for
 * a reload, read the INI file.
 */
static void
config_work(uv_work_t *w)
{
	struct config_change	*ch = w->data;
	int			 rv;

	if (ch->kind == CONFIG_RELOAD) {
		rv = conf_load(cf.path, &ch->new, &ch->cause);
		ch->outcome = rv == 0 ? CONFIG_DONE : CONFIG_KEPT;
		return;
	}
	if (conf_check_dirs(&ch->new, &ch->old, &ch->cause) != 0) {
		ch->outcome = CONFIG_INVALID;
		return;
	}
	rv = conf_save(cf.path, &ch->new, &ch->cause);
	if (rv == 0)
		ch->outcome = CONFIG_DONE;
	else if (rv != CONF_SAVE_RENAMED)
		ch->outcome = CONFIG_KEPT;
	else if (conf_save(cf.path, &ch->old, &ch->cause2) == 0)
		ch->outcome = CONFIG_RESTORED;
	else
		ch->outcome = CONFIG_LOST;
}

/* Back on the loop: apply the change or not, and start the next one. */
static void
config_after(uv_work_t *w, int status)
{
	struct config_change	*ch = w->data;

	cf.running = NULL;
	if (status != 0) {
		/* Cancelled (filed never cancels): it never ran. */
		ch->outcome = CONFIG_KEPT;
		free(ch->cause);
		ch->cause = xstrdup(uv_strerror(status));
	}
	if (ch->kind == CONFIG_SAVE)
		config_saved(ch);
	else
		config_reloaded(ch);
	config_change_free(ch);
	config_next();
}

/* A save is done: apply it and answer its close(), or say why not. */
static void
config_saved(struct config_change *ch)
{
	switch (ch->outcome) {
	case CONFIG_DONE:
		*cf.conf = ch->new;
		log_info("settings changed through config.json");
		ch->done(ch->arg, 0);
		run_reconf();
		retain_kick();
		break;
	case CONFIG_INVALID:
		log_warnx("%s", ch->cause);
		ch->done(ch->arg, -EINVAL);
		break;
	case CONFIG_KEPT:
		log_warnx("config.json: not applied: %s", ch->cause);
		ch->done(ch->arg, -EIO);
		break;
	case CONFIG_RESTORED:
		log_warnx("config.json: not applied: %s; %s holds the "
		    "settings in force again", ch->cause, cf.path);
		ch->done(ch->arg, -EIO);
		break;
	case CONFIG_LOST:
		/*
		 * cf.path holds the new settings or the old ones, and a crash
		 * may still turn one into the other: neither 0 nor EIO would
		 * be sure to stay true. Leave the close() unanswered.
		 */
		fatalx("config.json: %s; putting back the settings in force "
		    "failed too: %s; the disk that holds %s is failing, "
		    "stopping", ch->cause, ch->cause2, cf.path);
	}
}

/* A reload is done: apply the settings read, or keep the running ones. */
static void
config_reloaded(struct config_change *ch)
{
	if (ch->outcome != CONFIG_DONE) {
		log_warnx("%s; keeping the running settings", ch->cause);
		notify_ready();
		return;
	}
	*cf.conf = ch->new;
	log_info("settings reloaded");
	run_reconf();
	notify_ready();
	retain_kick();
}
