/*
 * filed.h: the private header. Shared types, and every file's functions
 * listed under the name of the file that owns them.
 *
 * Only fuse.c and fsops.c include fuse_lowlevel.h; only loop.c, run.c,
 * journal.c, fuse.c and fsops.c include uv.h. The state machine (queue.c)
 * and the codecs (rec.c, conf.c) depend on neither, so they link into the
 * unit tests without a mount.
 */

#ifndef FILED_H
#define FILED_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define FILED_JOURNAL_VERSION	1
#define FILED_NAME_MAX		255

struct uv_loop_s;

/* buf.c */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	 buf_init(struct buf *);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_reserve(struct buf *, size_t);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addc(struct buf *, char);
void	 buf_adds(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_set(struct buf *, size_t, const void *, size_t);

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* log.c */
void	 log_init(int);
int	 log_debugging(void);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatalx(const char *, ...);

/* util.c */
int64_t	 util_now(void);
char	*util_rfc3339(int64_t, char *, size_t);
int	 util_valid_name(const char *, size_t);
int	 util_fsync_dir(const char *);

/* rec.c: the journal record codec (one record = one line) */
#define REC_MAXFIELDS	16
struct rec_field {
	const char	*key;
	const char	*val;		/* unescaped, NUL-terminated */
	size_t		 len;		/* length of val without the NUL */
};
struct rec {
	uint64_t	 seq;
	const char	*type;
	int		 nfields;
	struct rec_field field[REC_MAXFIELDS];
};
uint32_t crc32c(uint32_t, const void *, size_t);
void	 rec_begin(struct buf *, const char *);
void	 rec_add(struct buf *, const char *, const void *, size_t);
void	 rec_add_str(struct buf *, const char *, const char *);
void	 rec_add_u64(struct buf *, const char *, uint64_t);
void	 rec_add_i64(struct buf *, const char *, int64_t);
void	 rec_frame(struct buf *, uint64_t, const char *, size_t);
int	 rec_parse(char *, size_t, struct rec *, const char **);
int	 rec_parse_body(char *, size_t, struct rec *, const char **);
const char *rec_get(const struct rec *, const char *, size_t *);
int	 rec_get_u64(const struct rec *, const char *, uint64_t *);
int	 rec_get_i64(const struct rec *, const char *, int64_t *);

/* journal.c: the append-only journal, its replay and its group commit */
struct journal;
typedef int	(*journal_apply_cb)(void *, struct rec *, const char **);
typedef void	(*journal_done_cb)(void *, int);
struct journal	*journal_open(const char *, size_t, journal_apply_cb, void *,
		    char **);
void		 journal_attach(struct journal *, struct uv_loop_s *);
void		 journal_append(struct journal *, const char *, size_t,
		    journal_done_cb, void *);
int		 journal_idle(struct journal *);
uint64_t	 journal_next_seq(struct journal *);
void		 journal_close(struct journal *);

/* conf.c: settings, INI (inih) <-> struct <-> JSON (jansson) */
struct conf {
	long		 max_retries;
	long		 max_jobs;
	double		 backoff_base;
	double		 backoff_mult;
	double		 timeout;
	double		 kill_grace;
	long		 max_job_size;
};
#define CONF_JSON_MAX	65536
void	 conf_defaults(struct conf *);
int	 conf_load(const char *, struct conf *, char **);
int	 conf_save(const char *, const struct conf *, char **);
char	*conf_to_json(const struct conf *);
int	 conf_from_json(const char *, size_t, const struct conf *,
	    struct conf *, char **);
int	 conf_json_check(const char *, size_t, const struct conf *, char **);

#endif /* FILED_H */
