#!/bin/sh

test_description='the service manager: READY, STATUS, RELOADING, STOPPING, WATCHDOG

filed speaks the readiness protocol of sd_notify(3) to the unix datagram
socket that NOTIFY_SOCKET names, a path or an abstract name. A listener
here stands in for systemd: it writes each datagram it gets as one line
(fields joined by "|"), with its arrival time, and for READY=1 whether the
mount answered at that moment.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

ABS_TRASH=$(cd "$TRASH" && pwd -P)

cat >listen.py <<'EOF'
import os, socket, sys, time
name, out, mnt = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
s.settimeout(300)
open(out + ".ready", "w").close()
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(65536).decode()
        extra = ""
        if "READY=1" in msg:
            extra = " mounted=%s" % (
                "yes" if os.path.exists(mnt + "/stats") else "no")
        f.write("%.3f %s%s\n" % (time.monotonic(), msg.replace("\n", "|"),
                                 extra))
EOF

# listen NAME OUT: a listener on NAME writing to OUT, until it is killed
# (stop_listeners) or hears nothing for 5 minutes. It must not hold the
# test's standard output: the harness reads that until its end.
listen() {
	rm -f "$1" "$2" "$2.ready" || return 1
	"$FILED_PYTHON" listen.py "$1" "$2" "$ABS_TRASH/mnt" \
		</dev/null >/dev/null 2>&1 &
	listen_pid=$!
	echo "$listen_pid" >>listeners
	wait_for 10 "test -e $2.ready"
}

# stop_listeners: kill every listener started.
stop_listeners() {
	test -f listeners && kill $(cat listeners) 2>/dev/null
	rm -f listeners
}

# notified OUT PATTERN: OUT has a line matching PATTERN (grep -E).
notified() {
	grep -E "$2" "$1"
}

# start_with VAR=VALUE... --: start filed with these in its environment
# only.
start_with() {
	sw__names=
	while test "$1" != --
	do
		export "$1"
		sw__names="$sw__names ${1%%=*}"
		shift
	done
	filed_start
	sw__rc=$?
	unset $sw__names
	return $sw__rc
}

test_expect_success 'setup: a listener on a path' '
	filed_ini max_jobs=2 &&
	listen "$ABS_TRASH/notify.sock" n1
'

test_expect_success 'READY=1 once the mount answers, with a STATUS' '
	start_with "NOTIFY_SOCKET=$ABS_TRASH/notify.sock" -- &&
	wait_for 10 "notified n1 READY=1" &&
	cat n1 &&
	test "$(grep -c READY=1 n1)" = 1 &&
	notified n1 "READY=1\|STATUS=serving $TRASH/mnt: 0 active, 0 pending mounted=yes"
'

test_expect_success 'jobs do not inherit NOTIFY_SOCKET' '
	echo "env >\"$ABS_TRASH/job.env\"" >mnt/pending/env &&
	wait_job_in complete env &&
	grep "^FILED_JOB=env$" job.env &&
	! grep "^NOTIFY_SOCKET=" job.env &&
	! grep "^WATCHDOG_" job.env
'

test_expect_success 'STATUS follows the queue: active and pending, then idle' '
	: >n1 &&
	gate g1 >mnt/pending/a &&
	gate g1 >mnt/pending/b &&
	gate g1 >mnt/pending/c &&
	wait_for 10 "notified n1 \"^[0-9.]+ STATUS=serving .*: 2 active, 1 pending$\"" &&
	open_gate g1 &&
	wait_job_in complete c &&
	wait_for 10 "notified n1 \"^[0-9.]+ STATUS=serving .*: 0 active, 0 pending$\"" &&
	cat n1
'

test_expect_success 'a burst of jobs: at most one STATUS a second' '
	: >n1 &&
	i=0 &&
	while test $i -lt 300
	do
		echo true >mnt/pending/burst$i || return 1
		i=$((i + 1))
	done &&
	wait_job_in complete burst299 &&
	wait_for 10 "tail -n 1 n1 | grep -q \": 0 active, 0 pending\$\"" &&
	cat n1 &&
	test "$(wc -l <n1)" -ge 1 &&
	awk "NR > 1 && \$1 - last < 0.9 { print \"too soon: \" \$0; bad = 1 }
		{ last = \$1 } END { exit bad }" n1
'

test_expect_success 'idle: no STATUS and no ping is sent' '
	sleep 1.2 &&
	: >n1 &&
	sleep 3 &&
	test_must_be_empty n1
'

command -v strace >/dev/null 2>&1 && test_set_prereq STRACE

test_expect_success STRACE 'idle: filed makes no syscall at all (strace -c)' '
	timeout -s INT 3 strace -f -qq -c -o idle.strace -p "$filed_pid"
	cat idle.strace &&
	awk "NF >= 5 && \$1 ~ /^[0-9.]+\$/ && \$NF != \"total\"" idle.strace >calls &&
	test_must_be_empty calls
'

test_expect_success 'SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1' '
	: >n1 &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "test \"\$(grep -c READY=1 n1)\" = 1" &&
	cat n1 &&
	sed -n 1p n1 | grep -E "^[0-9.]+ RELOADING=1\|MONOTONIC_USEC=[0-9]+$" &&
	sed -n 2p n1 | grep -E "^[0-9.]+ READY=1\|STATUS=serving "
'

test_expect_success 'SIGHUP with a broken filed.ini: READY=1 too, old settings kept' '
	: >n1 &&
	cp state/filed.ini good.ini &&
	echo "max_jobs = lots" >>state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "test \"\$(grep -c READY=1 n1)\" = 1" &&
	filed_log | grep "keeping the running settings" &&
	test "$(jq .max_jobs mnt/config.json)" = 2 &&
	cp good.ini state/filed.ini
'

test_expect_success 'SIGTERM: STOPPING=1, then filed exits' '
	: >n1 &&
	filed_stop &&
	cat n1 &&
	notified n1 "^[0-9.]+ STOPPING=1" &&
	kill "$listen_pid"
'

test_expect_success 'an abstract socket name (@NAME)' '
	listen "@filed-test-$$" n2 &&
	start_with "NOTIFY_SOCKET=@filed-test-$$" -- &&
	wait_for 10 "notified n2 READY=1" &&
	notified n2 "mounted=yes" &&
	filed_stop &&
	notified n2 STOPPING=1 &&
	kill "$listen_pid"
'

test_expect_success 'WATCHDOG_USEC: a ping every half interval, idle too' '
	listen "$ABS_TRASH/notify.sock" n3 &&
	start_with "NOTIFY_SOCKET=$ABS_TRASH/notify.sock" \
		WATCHDOG_USEC=400000 -- &&
	wait_for 10 "notified n3 READY=1" &&
	sleep 3 &&
	n=$(grep -c "WATCHDOG=1" n3) &&
	echo "$n pings in about 3 s" &&
	test "$n" -ge 10 && test "$n" -le 16 &&
	filed_stop
'

test_expect_success 'WATCHDOG_PID of another process: no pings' '
	: >n3 &&
	start_with "NOTIFY_SOCKET=$ABS_TRASH/notify.sock" \
		WATCHDOG_USEC=200000 WATCHDOG_PID=1 -- &&
	wait_for 10 "notified n3 READY=1" &&
	sleep 1 &&
	! grep WATCHDOG=1 n3 &&
	filed_stop &&
	kill "$listen_pid"
'

test_expect_success 'nobody listens: filed serves, and says so once' '
	rm -f notify.sock &&
	start_with "NOTIFY_SOCKET=$ABS_TRASH/notify.sock" -- &&
	echo true >mnt/pending/alone &&
	wait_job_in complete alone &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"settings reloaded\"" &&
	test "$(filed_log | grep -c "NOTIFY_SOCKET: send")" = 1 &&
	filed_stop
'

test_expect_success 'a NOTIFY_SOCKET that is no socket name: a warning, and filed serves' '
	start_with NOTIFY_SOCKET=relative/path -- &&
	filed_log | grep "NOTIFY_SOCKET=relative/path: not a unix socket" &&
	echo true >mnt/pending/served &&
	wait_job_in complete served &&
	filed_stop
'

test_expect_success 'stop the listeners' '
	stop_listeners
'

test_done
