/*
 * watch.c: the one place where a change of a job is announced.
 *
 * The state machine (queue.c) calls watch_change() once for every record
 * it applies live that changes what a job is to its users: queued,
 * started, retried, interrupted, finished, cancelled, removed. Everything
 * that reacts to such a change hangs off this call, and nothing else: the
 * readers of the events stream (events.c), the readers of wait/NAME
 * (wait.c), the counters of stats (stats.c), the service manager's
 * status line (notify.c) and the timer of the finished jobs filed
 * removes by itself (retain.c). So they never disagree, and a change
 * the journal did not take is never announced: the call comes after the
 * record was committed and applied. Replay announces nothing (nobody is
 * listening before the mount, and a replayed change happened in an
 * earlier run).
 */

#include "filed.h"

/* Tell everyone who listens that c happened. */
void
watch_change(const struct change *c)
{
	stats_change(c);
	events_change(c);
	wait_change(c);
	notify_change();
	retain_change(c);
}

/* The word for a change, as the events stream writes it. */
const char *
watch_state(enum change_kind kind)
{
	switch (kind) {
	case CH_PENDING:
	case CH_RETRY:
	case CH_INTERRUPTED:
		return "pending";
	case CH_ACTIVE:
		return "active";
	case CH_COMPLETE:
		return "complete";
	case CH_FAILED:
	case CH_CANCELLED:
		return "failed";
	case CH_REMOVED:
		return "removed";
	}
	return "unknown";
}
