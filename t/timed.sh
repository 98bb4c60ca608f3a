#!/bin/sh
# timed.sh SHELL SCRIPT [ARGS]: run one test script with SHELL, and stop it if
# it runs longer than FILED_TEST_TIMEOUT seconds (600 unless set; 0 means no
# limit).
#
# make check runs every script through this (SH_LOG_COMPILER), so that one
# script that hangs (a request filed never answers, a helper waiting for a
# gate that never opens) fails that script and leaves the rest of the suite
# to run, instead of holding the whole run until CI gives up on it.
#
# Before it stops the script it prints, as TAP comments, what was running:
# the process tree under the script and the kernel function each process
# waits in, and "Bail out!", which tells the TAP driver that the script did
# not finish. filed's mounts under the script's trash directory are aborted
# (through /sys/fs/fuse/connections), so that no process stays blocked in a
# request to a daemon that no longer answers, and unmounted. Then the
# script's process group gets SIGTERM, and SIGKILL 10 s later. A script that
# ends leaves nothing behind either: what is left in its group when it exits
# gets SIGTERM.

limit=${FILED_TEST_TIMEOUT:-600}
shell=$1
script=$2
shift
if [ "$limit" = 0 ]; then
	exec "$shell" "$@"
fi

# Start the script as the leader of its own process group and session, so
# that the group is everything it started. A signal that stops make check
# is passed on to that group.
setsid "$shell" "$@" &
child=$!
trap 'kill -TERM "-$child" 2>/dev/null' HUP INT TERM

# timed__report: what runs under the script, as TAP comments.
timed__report() {
	echo "# $script ran longer than $limit s; what was running:"
	timeout -s KILL 10 ps -s "$child" -o pid,ppid,stat,etimes,wchan:32,args \
	    2>&1 | sed 's/^/#   /'
}

# timed__abort: abort the FUSE connection of every mount under the script's
# trash directory (its number is the minor of the mount's device, read from
# /proc/self/mountinfo: a stat would wait for the daemon; fusectl is
# mounted for it where it is not), then unmount it lazily.
timed__abort() {
	dir=${SHARNESS_TEST_DIRECTORY:-$(cd "$(dirname "$script")" && pwd)}
	trash="$dir/trash directory.$(basename "$script" .sh)"
	test -d /sys/fs/fuse/connections/. &&
	    ! grep -q ' /sys/fs/fuse/connections ' /proc/self/mounts &&
	    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
	awk '{ for (i = 7; i < NF; i++) if ($i == "-") break
	    if ($(i + 1) ~ /^fuse/) print $3, $5 }' /proc/self/mountinfo |
	sed -e 's/\\040/ /g' -e 's/\\011/	/g' |
	while read -r dev m
	do
		case "$m" in
		"$trash"/*) ;;
		*) continue ;;
		esac
		conn=/sys/fs/fuse/connections/${dev#*:}/abort
		if [ -w "$conn" ]; then
			echo 1 >"$conn"
		fi
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}

# The watcher polls once a second, and its sleeps hold no descriptor of
# the test's output: once it is killed the TAP driver sees the end at once.
(
	n=0
	while [ "$n" -lt "$limit" ]; do
		sleep 1 </dev/null >/dev/null 2>&1
		kill -0 "$child" 2>/dev/null || exit 0
		n=$((n + 1))
	done
	timed__report
	echo "Bail out! $script was stopped after $limit s"
	timed__abort
	kill -TERM "-$child" 2>/dev/null
	sleep 10 </dev/null >/dev/null 2>&1
	kill -KILL "-$child" 2>/dev/null
) &
watch=$!

wait "$child"
status=$?
# Whatever the script left behind in its group ends with it.
kill -TERM "-$child" 2>/dev/null
kill "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
exit "$status"
