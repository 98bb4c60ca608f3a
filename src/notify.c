/*
 * notify.c: the service manager's readiness protocol (sd_notify(3)),
 * spoken without libsystemd: one datagram per message to the unix socket
 * that NOTIFY_SOCKET names (a path, or an abstract name written "@NAME").
 *
 * - READY=1 once the journal is replayed and the mount is up; RELOADING=1
 *   (with MONOTONIC_USEC, as systemd 253 and later ask) when SIGHUP queues
 *   a reload, and READY=1 when that reload is done, applied or refused;
 *   STOPPING=1 when the stop begins.
 * - STATUS= says what filed is doing ("serving MOUNT: 2 active, 14
 *   pending"). A change of a job marks it stale (notify_change, called
 *   from watch.c); a one-second timer sends it, then waits one more second
 *   for the next changes before it stops. So a busy queue sends at most
 *   one status a second, and an idle one sends nothing and arms nothing.
 * - WATCHDOG=1 every WATCHDOG_USEC / 2, only when the manager asks for it
 *   (WATCHDOG_USEC set, and WATCHDOG_PID unset or filed's pid). The pings
 *   come from the loop, so a loop that hangs stops them, as it should.
 * - The variables are removed from filed's environment at start, so that
 *   no job inherits them and speaks for filed.
 * - The socket is non-blocking and each send is one sendto(2): a manager
 *   that does not read never stalls the loop. A failed send is logged
 *   once, at debug level after the first.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "filed.h"

#define NOTIFY_STATUS_MS	1000	/* at most one STATUS a second */

static struct {
	int			 fd;		/* -1: no manager listens */
	struct sockaddr_un	 addr;
	socklen_t		 addrlen;
	const char		*mountpoint;
	uv_timer_t		 status;	/* sends a stale STATUS */
	uv_timer_t		 watchdog;
	int			 stale;		/* STATUS to send */
	int			 timers;	/* the timers are initialised */
	int			 warned;	/* a failed send was logged */
	int			 stopping;	/* no STATUS any more */
} nt = { .fd = -1 };

static int	notify_parse(const char *, const char *, uint64_t *);
static void	notify_send(const char *);
static void	notify_status_text(char *, size_t);
static void	notify_status_fired(uv_timer_t *);
static void	notify_watchdog_fired(uv_timer_t *);

/*
 * Read NOTIFY_SOCKET into nt.addr and the watchdog interval into *usec (0:
 * none); return 0, or -1 with the reason logged for a name that cannot be
 * a unix socket's.
 */
static int
notify_parse(const char *sock, const char *wd, uint64_t *usec)
{
	const char	*pid;
	char		*end;
	size_t		 len;
	unsigned long long v;

	*usec = 0;
	len = strlen(sock);
	if ((sock[0] != '/' && sock[0] != '@') || len < 2 ||
	    len > sizeof nt.addr.sun_path - (sock[0] == '/')) {
		log_warnx("NOTIFY_SOCKET=%s: not a unix socket's path or "
		    "abstract name; not notifying", sock);
		return -1;
	}
	memset(&nt.addr, 0, sizeof nt.addr);
	nt.addr.sun_family = AF_UNIX;
	memcpy(nt.addr.sun_path, sock, len);
	if (sock[0] == '@')
		nt.addr.sun_path[0] = '\0';
	nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (sock[0] == '/'));

	if (wd == NULL)
		return 0;
	pid = getenv("WATCHDOG_PID");
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid()) {
		log_debug("WATCHDOG_PID=%s is not filed's pid: no watchdog",
		    pid);
		return 0;
	}
	errno = 0;
	v = strtoull(wd, &end, 10);
	if (errno != 0 || end == wd || *end != '\0' || v == 0) {
		log_warnx("WATCHDOG_USEC=%s: not a number of microseconds; "
		    "no watchdog", wd);
		return 0;
	}
	*usec = v;
	return 0;
}

/*
 * Take what the manager set in the environment, and remove it from there:
 * open the socket and start the watchdog's pings if it asks for them.
 */
void
notify_init(struct uv_loop_s *loop, const char *mountpoint)
{
	const char	*sock;
	uint64_t	 usec = 0;
	char		*copy, *wd;

	nt.mountpoint = mountpoint;
	sock = getenv("NOTIFY_SOCKET");
	wd = getenv("WATCHDOG_USEC");
	copy = sock != NULL && *sock != '\0' ? xstrdup(sock) : NULL;
	wd = wd != NULL ? xstrdup(wd) : NULL;
	if (copy != NULL && notify_parse(copy, wd, &usec) == 0) {
		nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (nt.fd == -1)
			log_warn("NOTIFY_SOCKET: socket");
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	free(copy);
	free(wd);
	if (nt.fd == -1)
		return;

	uv_timer_init(loop, &nt.status);
	uv_timer_init(loop, &nt.watchdog);
	nt.timers = 1;
	if (usec != 0) {
		/* Half the interval, in ms, at least 1. */
		usec /= 2000;
		uv_timer_start(&nt.watchdog, notify_watchdog_fired,
		    usec ? usec : 1, usec ? usec : 1);
		log_debug("watchdog: a ping every %" PRIu64 " ms",
		    usec ? usec : 1);
	}
}

/* Send one message to the manager. */
static void
notify_send(const char *msg)
{
	if (nt.fd == -1)
		return;
	if (sendto(nt.fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&nt.addr, nt.addrlen) != -1)
		return;
	if (!nt.warned)
		log_warn("NOTIFY_SOCKET: send");
	else
		log_debug("NOTIFY_SOCKET: send: %s", strerror(errno));
	nt.warned = 1;
}

/* Write the STATUS line: what filed serves, and how much it runs. */
static void
notify_status_text(char *s, size_t len)
{
	snprintf(s, len, "STATUS=serving %s: %" PRIu64 " active, %" PRIu64
	    " pending", nt.mountpoint, queue_count_state(JOB_ACTIVE),
	    queue_count_state(JOB_PENDING));
}

/*
 * The mount is up (or a reload is done): say so, with a status. Not once
 * the stop began: a reload finished during the stop must not take back
 * its STOPPING=1.
 */
void
notify_ready(void)
{
	char	msg[PATH_MAX + 128];
	char	status[PATH_MAX + 64];

	if (nt.fd == -1 || nt.stopping)
		return;
	notify_status_text(status, sizeof status);
	snprintf(msg, sizeof msg, "READY=1\n%s", status);
	notify_send(msg);
}

/* SIGHUP queued a reload of the settings. */
void
notify_reloading(void)
{
	struct timespec	ts;
	char		msg[96];

	if (nt.fd == -1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	notify_send(msg);
}

/* The stop begins: no STATUS after this one, no more pings. */
void
notify_stopping(void)
{
	if (nt.fd == -1)
		return;
	notify_send("STOPPING=1\nSTATUS=stopping: waiting for the running "
	    "attempts");
	uv_timer_stop(&nt.status);
	nt.stale = 0;
	nt.stopping = 1;
}

/* A job changed: the STATUS is stale; send it within a second. */
void
notify_change(void)
{
	if (nt.fd == -1 || nt.stale || nt.stopping)
		return;
	nt.stale = 1;
	if (!uv_is_active((uv_handle_t *)&nt.status))
		uv_timer_start(&nt.status, notify_status_fired,
		    NOTIFY_STATUS_MS, 0);
}

/*
 * The second is over: send the STATUS if it is stale, and wait one more
 * second for the changes that follow; with none, stop.
 */
static void
notify_status_fired(uv_timer_t *t)
{
	char	msg[PATH_MAX + 64];

	if (!nt.stale)
		return;
	nt.stale = 0;
	notify_status_text(msg, sizeof msg);
	notify_send(msg);
	uv_timer_start(t, notify_status_fired, NOTIFY_STATUS_MS, 0);
}

/* The watchdog's interval is half over: the loop is alive. */
static void
notify_watchdog_fired(uv_timer_t *t)
{
	notify_send("WATCHDOG=1");
}

/* Close the socket; the timers are closed with every other handle. */
void
notify_free(void)
{
	if (nt.fd != -1)
		close(nt.fd);
	nt.fd = -1;
}
