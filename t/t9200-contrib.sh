#!/bin/sh

test_description='the service files of contrib/: systemd, OpenRC, runit

The systemd unit passes systemd-analyze verify (where installed) and is
Type=notify. The OpenRC script parses, and builds the command line from
/etc/conf.d/filed as openrc-run would source it. The runit service is run
for real by runsv: it mounts, runs a job, reloads on sv reload, stops
cleanly on sv stop, and stays down after an exit status of 1.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

CONTRIB="$SHARNESS_TEST_SRCDIR/../contrib"
ABS_TRASH=$(cd "$TRASH" && pwd -P)
ABS_BIN=$(cd "$(dirname "$FILED_BIN")" && pwd -P)/$(basename "$FILED_BIN")

command -v systemd-analyze >/dev/null 2>&1 && test_set_prereq SYSTEMD_ANALYZE
command -v runsv >/dev/null 2>&1 && command -v sv >/dev/null 2>&1 &&
	test_set_prereq RUNIT

test_expect_success 'systemd: Type=notify, with a watchdog and KillMode=mixed' '
	grep -x "Type=notify" "$CONTRIB/filed.service" &&
	grep -x "WatchdogSec=[0-9]*" "$CONTRIB/filed.service" &&
	grep -x "KillMode=mixed" "$CONTRIB/filed.service" &&
	! grep -E "^(PrivateTmp|ProtectSystem|ProtectHome|PrivateDevices)=" \
		"$CONTRIB/filed.service"
'

test_expect_success SYSTEMD_ANALYZE 'systemd: systemd-analyze verify' '
	sed "s|/usr/local/bin/filed|$ABS_BIN|" "$CONTRIB/filed.service" \
		>filed.service &&
	systemd-analyze verify "$ABS_TRASH/filed.service" 2>verify.err;
	rc=$? &&
	cat verify.err &&
	test "$rc" = 0 &&
	! grep -i "filed.service" verify.err
'

# The functions openrc-run gives a script, as stubs that log their calls.
cat >openrc-stubs.sh <<'EOF2'
ebegin() { echo "ebegin $*" >>calls; }
eend() { echo "eend $*" >>calls; return "$1"; }
checkpath() { echo "checkpath $*" >>calls; }
EOF2
mkdir -p bin
printf '#!/bin/sh\necho "supervise-daemon $*" >>calls\n' >bin/supervise-daemon
chmod +x bin/supervise-daemon

test_expect_success 'OpenRC: the script parses' '
	sh -n "$CONTRIB/openrc/filed" &&
	sh -n "$CONTRIB/openrc/filed.confd" &&
	head -n 1 "$CONTRIB/openrc/filed" | grep -x "#!/sbin/openrc-run"
'

test_expect_success 'OpenRC: the defaults, and /etc/conf.d/filed, make the command line' '
	(
		. ./openrc-stubs.sh &&
		unset FILED_BIN &&
		. "$CONTRIB/openrc/filed" &&
		echo "$command $command_args" >defaults &&
		echo "$supervisor $command_user $retry" >>defaults
	) &&
	cat defaults &&
	grep -x "/usr/local/bin/filed -s /var/lib/filed  /mnt/filed" defaults &&
	grep -x "supervise-daemon root TERM/90/KILL/5" defaults &&
	(
		. ./openrc-stubs.sh &&
		FILED_STATEDIR=/srv/q FILED_MOUNTPOINT=/mnt/q \
		FILED_OPTS="-o allow_other" FILED_USER=filed &&
		unset FILED_BIN &&
		. "$CONTRIB/openrc/filed" &&
		echo "$command $command_args" >confd &&
		echo "$command_user" >>confd &&
		start_pre &&
		PATH="$ABS_TRASH/bin:$PATH" &&
		RC_SVCNAME=filed &&
		reload
	) &&
	cat confd calls &&
	grep -x "/usr/local/bin/filed -s /srv/q -o allow_other /mnt/q" confd &&
	grep -x filed confd &&
	grep "checkpath --directory --mode 0755 --owner filed /mnt/q" calls &&
	grep "checkpath --directory --mode 0700 --owner filed /srv/q" calls &&
	grep -x "supervise-daemon filed --signal HUP" calls
'

# A runit service directory for this test: the contrib files, with a conf
# that points them at the trash directory.
test_expect_success RUNIT 'runit: the service mounts, runs a job, reloads' '
	mkdir sv &&
	cp "$CONTRIB/runit/run" "$CONTRIB/runit/finish" sv/ &&
	cat >sv/conf <<-EOF2 &&
	FILED_STATEDIR="$ABS_TRASH/state"
	FILED_MOUNTPOINT="$ABS_TRASH/mnt"
	FILED_BIN="$ABS_BIN"
	EOF2
	filed_ini max_jobs=1 max_retries=0 || return 1
	# Not in the && list: that would put the whole list in the background.
	runsv "$ABS_TRASH/sv" </dev/null >runsv.out 2>&1 &
	echo $! >runsv.pid &&
	wait_for 15 "mountpoint -q mnt && test -d mnt/pending" &&
	sv status "$ABS_TRASH/sv" | grep "^run: " &&
	echo "echo under runit" >mnt/pending/r &&
	wait_job_in complete r &&
	test "$(cat mnt/complete/r)" = "under runit" &&
	sv reload "$ABS_TRASH/sv" &&
	wait_for 10 "grep -q \"settings reloaded\" runsv.out"
'

# runsv_state: what runsv and its filed are doing, for a failure's log.
runsv_state() {
	sv status "$ABS_TRASH/sv"
	for p in $(pgrep -f "$ABS_BIN -s $ABS_TRASH/state")
	do
		ps -o pid,ppid,stat,wchan:32,etime,cmd -p "$p"
		cat "/proc/$p/stack" 2>/dev/null
		ls "/proc/$p/task" 2>/dev/null | while read -r t
		do
			echo "task $t: $(cat "/proc/$p/task/$t/wchan" 2>/dev/null)"
		done
	done
}

test_expect_success RUNIT 'runit: sv stop stops filed cleanly, the mount goes' '
	sv stop "$ABS_TRASH/sv" || :
	wait_for 60 "sv status \"$ABS_TRASH/sv\" | grep -q \"^down: \"" ||
		{ runsv_state; false; } &&
	! mountpoint -q mnt &&
	grep "stopped" runsv.out
'

test_expect_success RUNIT 'runit: exit status 1 (bad settings) is not restarted' '
	echo "max_jobs = lots" >>state/filed.ini &&
	sv up "$ABS_TRASH/sv" || :
	wait_for 60 "grep -q \"not restarting it\" runsv.out" ||
		{ runsv_state; cat runsv.out; false; } &&
	sleep 3 &&
	sv status "$ABS_TRASH/sv" | grep "^down: " &&
	test "$(grep -c "max_jobs" runsv.out)" -le 2 &&
	cat runsv.out
'

test_expect_success RUNIT 'runit: stop runsv' '
	sv exit "$ABS_TRASH/sv" || kill "$(cat runsv.pid)"
	wait_for 10 "! pid_alive $(cat runsv.pid)"
'

# Whatever failed above, leave no runsv and no filed of it behind.
if test -f runsv.pid && pid_alive "$(cat runsv.pid)"
then
	kill -9 "$(cat runsv.pid)" 2>/dev/null
	test -f state/lock && kill -9 "$(cat state/lock)" 2>/dev/null
	fusermount3 -u -z mnt 2>/dev/null
fi

test_done
