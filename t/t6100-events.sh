#!/bin/sh

test_description='events: a live stream of the changes of jobs

A reader of events gets, from its open on, one line per change of a job,
TIME NAME STATE KEY=VALUE..., the same lines in the same order as every
other reader. A read at the end waits for the next change (poll(2) says
when one came), is interrupted by a signal, and gets end of file when
filed stops. A reader that stops reading costs filed a bounded backlog,
and gets one "missed" line when it reads again.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

SQ="'"

# How much more filed's resident set may grow while 10,000 jobs run past
# a reader that does not read than while 10,000 ran before with no reader:
# the ring (1 MiB and 96 KiB of line slots; measured: 1.0 MiB more), and
# room for noise. In a sanitizer build the second 10,000 jobs alone cost
# filed some 12 MiB more than the first (measured: 14 MiB more with the
# reader).
if ldd "$FILED_BIN" 2>/dev/null | grep -q libasan
then
	STALL_RSS_SLACK_KIB=32768
else
	STALL_RSS_SLACK_KIB=2048
fi

# holds_events PID: process PID has mnt/events open.
holds_events() {
	ls -l "/proc/$1/fd" 2>/dev/null | grep -q "/mnt/events\$"
}

# Another user (nobody) can reach the mount.
test "$(id -u)" = 0 && command -v setpriv >/dev/null 2>&1 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c 'cd "$1"' - "$TRASH" 2>/dev/null &&
	test_set_prereq OTHERS

# spawn NAME COMMAND...: run COMMAND in the background, its output in
# NAME.out and NAME.err, its pid in NAME.pid and, once it exited, its exit
# status in NAME.rc.
spawn() {
	spawn__name=$1
	shift
	rm -f "$spawn__name.pid" "$spawn__name.rc"
	{
		"$@" >"$spawn__name.out" 2>"$spawn__name.err" &
		echo $! >"$spawn__name.pid"
		wait $!
		echo $? >"$spawn__name.rc"
	} >/dev/null 2>&1 &
	wait_for 10 "test -s $spawn__name.pid"
}

# reader NAME: cat events into NAME.out in the background (see spawn),
# once it has events open.
reader() {
	spawn "$1" cat mnt/events &&
	wait_for 10 "holds_events \$(cat $1.pid)"
}

# stop_reader NAME: end the cat of reader NAME.
stop_reader() {
	kill "$(cat "$1.pid")" &&
	wait_for 10 "test -s $1.rc"
}

# seen NAME JOB STATE: reader NAME read a line saying that JOB is STATE.
seen() {
	awk -v n="$2" -v s="$3" '$2 == n && $3 == s { f = 1 } END { exit !f }' \
		"$1.out"
}

# lines NAME JOB: what reader NAME read about JOB, without the times,
# with pid=P and retry_at=T.
lines() {
	awk -v n="$2" '$2 == n' "$1.out" | cut -d" " -f2- |
	sed -e "s/ pid=[0-9][0-9]*/ pid=P/" -e "s/ retry_at=[^ ]*/ retry_at=T/"
}

# key NAME JOB STATE KEY: the value of KEY in the first line of reader NAME
# saying that JOB is STATE.
key() {
	awk -v n="$2" -v s="$3" -v k="$4=" '
		$2 == n && $3 == s {
			for (i = 4; i <= NF; i++)
				if (index($i, k) == 1) {
					print substr($i, length(k) + 1)
					exit
				}
		}' "$1.out"
}

# completes NAME COUNT: reader NAME read COUNT lines "... complete ...".
completes() {
	test "$(awk '$3 == "complete"' "$1.out" | wc -l)" = "$2"
}

# rss: filed's resident set, in KiB.
rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$filed_pid/status"
}

# idle: nothing is queued or running.
idle() {
	test -z "$(ls -A mnt/pending)" && test -z "$(ls -A mnt/active)"
}

test_expect_success 'setup: the line checker, a writer of many jobs' '
	cat >evcheck.py <<-\EOF &&
	# evcheck.py format FILE...: every line is one of the documented
	# forms. evcheck.py retry FILE JOB: each retry_at of JOB is after its
	# line, and the next attempt starts no earlier.
	import datetime, re, sys
	TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
	NAME = r"(?:[!-\[\]-~]|\\\\|\\x[0-9a-f]{2})+"
	ENDED = (r" attempt=\d+ (exit=\d+|signal=SIG[A-Z0-9]+)"
	    r" reason=(exit|signal|timeout)")
	STATES = {
	    "pending": [r"", r" from=(failed|complete)",
	        ENDED + " retry_at=" + TIME,
	        r" attempt=\d+ reason=interrupted"],
	    "active": [r" attempt=\d+ pid=\d+"],
	    "complete": [r" attempt=\d+ exit=0 reason=exit"],
	    "failed": [ENDED,
	        r" attempt=\d+ reason=cancelled"],
	    "removed": [r" from=(pending|active|failed|complete)"],
	}
	forms = [re.compile("^%s %s %s%s$" % (TIME, NAME, s, k))
	    for s, ks in STATES.items() for k in ks]
	forms.append(re.compile("^%s - missed [1-9]\\d*$" % TIME))
	def when(s):
	    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
	if sys.argv[1] == "format":
	    bad = 0
	    for f in sys.argv[2:]:
	        for line in open(f, encoding="ascii").read().splitlines():
	            if not any(r.match(line) for r in forms):
	                print("bad line in %s: %r" % (f, line))
	                bad += 1
	    sys.exit(bad != 0)
	if sys.argv[1] == "retry":
	    retry, n = None, 0
	    for line in open(sys.argv[2]).read().splitlines():
	        w = line.split(" ")
	        if w[1] != sys.argv[3]:
	            continue
	        keys = dict(x.split("=", 1) for x in w[3:])
	        if "retry_at" in keys:
	            retry = when(keys["retry_at"])
	            assert retry > when(w[0]), line
	            n += 1
	        elif w[2] == "active" and retry is not None:
	            delta = (when(w[0]) - retry).total_seconds()
	            assert delta > -0.01, line
	            retry = None
	    sys.exit(n == 0)
	EOF
	cat >mkjobs.py <<-\EOF &&
	# mkjobs.py DIR PREFIX N THREADS: THREADS writers create N jobs in
	# all, PREFIX0 .. PREFIX(N-1), each holding "true".
	import os, sys, threading
	d, prefix = sys.argv[1], sys.argv[2]
	n, threads = int(sys.argv[3]), int(sys.argv[4])
	def writer(k):
	    for i in range(k, n, threads):
	        fd = os.open(os.path.join(d, "%s%d" % (prefix, i)),
	            os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
	        os.write(fd, b"true\n")
	        os.close(fd)
	ts = [threading.Thread(target=writer, args=(k,))
	    for k in range(threads)]
	for t in ts:
	    t.start()
	for t in ts:
	    t.join()
	EOF
	echo "2026-12-06T23:41:07.123Z a\\x20b failed attempt=2" \
		"signal=SIGKILL reason=signal" >good &&
	"$FILED_PYTHON" evcheck.py format good &&
	echo "2026-12-06T23:41:07Z a b failed" >bad &&
	test_must_fail "$FILED_PYTHON" evcheck.py format bad
'

test_expect_success 'setup: start filed' '
	filed_ini max_jobs=2 max_retries=2 backoff_base=0.2 backoff_mult=1 \
		kill_grace=0.5 &&
	filed_start -d &&
	listing mnt >actual &&
	grep -x events actual
'

test_expect_success 'a job that succeeds: pending, active (its pid), complete' '
	reader r1 &&
	echo "echo \$\$ >\"$TRASH/pid.ok\"" >mnt/pending/ok &&
	wait_for 10 "seen r1 ok complete" &&
	cat >expect <<-\EOF &&
	ok pending
	ok active attempt=1 pid=P
	ok complete attempt=1 exit=0 reason=exit
	EOF
	lines r1 ok >actual &&
	test_cmp expect actual &&
	test "$(key r1 ok active pid)" = "$(cat pid.ok)" &&
	awk "\$2 == \"ok\" { print \$1 }" r1.out >times &&
	sort -c times &&
	"$FILED_PYTHON" evcheck.py format r1.out
'

test_expect_success 'a job that fails: each retry is pending with retry_at, then failed' '
	echo "exit 3" >mnt/pending/flaky &&
	wait_for 20 "seen r1 flaky failed" &&
	cat >expect <<-\EOF &&
	flaky pending
	flaky active attempt=1 pid=P
	flaky pending attempt=1 exit=3 reason=exit retry_at=T
	flaky active attempt=2 pid=P
	flaky pending attempt=2 exit=3 reason=exit retry_at=T
	flaky active attempt=3 pid=P
	flaky failed attempt=3 exit=3 reason=exit
	EOF
	lines r1 flaky >actual &&
	test_cmp expect actual &&
	"$FILED_PYTHON" evcheck.py retry r1.out flaky
'

test_expect_success 'a timeout: signal=SIGTERM reason=timeout; a job killed: signal=SIGKILL' '
	echo "{\"max_retries\": 0, \"timeout\": 0.5}" >mnt/config.json &&
	echo "sleep 100" >mnt/pending/slow &&
	echo "kill -KILL \$\$" >mnt/pending/killed &&
	wait_for 20 "seen r1 slow failed && seen r1 killed failed" &&
	echo "{\"max_retries\": 2, \"timeout\": 0}" >mnt/config.json &&
	cat >expect <<-\EOF &&
	slow pending
	slow active attempt=1 pid=P
	slow failed attempt=1 signal=SIGTERM reason=timeout
	killed pending
	killed active attempt=1 pid=P
	killed failed attempt=1 signal=SIGKILL reason=signal
	EOF
	{ lines r1 slow && lines r1 killed; } >actual &&
	test_cmp expect actual
'

test_expect_success 'a cancel (mv active/NAME failed/): failed reason=cancelled' '
	echo "sleep 100" >mnt/pending/cancel &&
	wait_for 10 "seen r1 cancel active" &&
	mv mnt/active/cancel mnt/failed/ &&
	wait_for 10 "seen r1 cancel failed" &&
	cat >expect <<-\EOF &&
	cancel pending
	cancel active attempt=1 pid=P
	cancel failed attempt=1 reason=cancelled
	EOF
	lines r1 cancel >actual &&
	test_cmp expect actual
'

test_expect_success 'rm in each directory: removed from=STATE; a rerun: pending from=STATE' '
	echo "{\"max_jobs\": 1}" >mnt/config.json &&
	echo "sleep 100" >mnt/pending/blocker &&
	wait_job_in active blocker &&
	echo true >mnt/pending/waiting &&
	wait_for 10 "seen r1 waiting pending" &&
	rm mnt/pending/waiting mnt/active/blocker mnt/complete/ok \
		mnt/failed/cancel &&
	mv mnt/failed/flaky mnt/pending/ &&
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	wait_for 20 "test \$(grep -c \" flaky failed \" r1.out) = 2" &&
	cat >expect <<-\EOF &&
	waiting removed from=pending
	blocker removed from=active
	ok removed from=complete
	cancel removed from=failed
	flaky pending from=failed
	EOF
	awk "\$3 == \"removed\" || \$4 ~ /^from=/" r1.out | cut -d" " -f2- >actual &&
	test_cmp expect actual
'

test_expect_success 'drafts are not jobs: a queued draft is pending, a removed draft nothing' '
	echo true >mnt/pending/.d1 &&
	mv mnt/pending/.d1 mnt/pending/d1 &&
	echo true >mnt/pending/.d2 &&
	rm mnt/pending/.d2 &&
	echo true >mnt/pending/.d3 &&
	echo true >mnt/pending/.d4 &&
	mv mnt/pending/.d4 mnt/pending/.d3 &&
	rm mnt/pending/.d3 &&
	echo true >mnt/pending/mark &&
	wait_for 10 "seen r1 d1 complete && seen r1 mark complete" &&
	! grep " \\.d" r1.out &&
	cat >expect <<-\EOF &&
	d1 pending
	d1 active attempt=1 pid=P
	d1 complete attempt=1 exit=0 reason=exit
	EOF
	lines r1 d1 >actual &&
	test_cmp expect actual
'

test_expect_success 'a reader opened later does not see earlier changes' '
	reader r2 &&
	echo true >mnt/pending/late &&
	wait_for 10 "seen r2 late complete && seen r1 late complete" &&
	cut -d" " -f2- r2.out >actual &&
	cat >expect <<-\EOF &&
	late pending
	late active attempt=1 pid=P
	late complete attempt=1 exit=0 reason=exit
	EOF
	sed -e "s/ pid=[0-9]*/ pid=P/" actual >actual.p &&
	test_cmp expect actual.p &&
	grep -c "" r1.out >count &&
	test "$(cat count)" -gt 20 &&
	"$FILED_PYTHON" evcheck.py format r1.out r2.out &&
	stop_reader r1 &&
	stop_reader r2
'

test_expect_success 'two readers see the same lines in the same order (a burst of jobs)' '
	reader b1 &&
	reader b2 &&
	"$FILED_PYTHON" mkjobs.py mnt/pending burst 300 4 &&
	wait_for 60 "completes b1 300 && completes b2 300" &&
	test "$(grep -c "" b1.out)" = 900 &&
	test_cmp b1.out b2.out &&
	"$FILED_PYTHON" evcheck.py format b1.out &&
	stop_reader b1 &&
	stop_reader b2
'

test_expect_success 'names are escaped: space, backslash, bytes past ASCII, "-"' '
	reader r3 &&
	echo true >"mnt/pending/with space" &&
	echo true >"mnt/pending/back\\slash" &&
	echo true >"mnt/pending/$(printf "caf\\303\\251")" &&
	echo true >mnt/pending/- &&
	echo true >"mnt/pending/a=b,c;d" &&
	wait_for 10 "completes r3 5" &&
	awk "\$3 == \"pending\" { print \$2 }" r3.out | sort >actual &&
	sort >expect <<-\EOF &&
	with\x20space
	back\\slash
	caf\xc3\xa9
	\x2d
	a=b,c;d
	EOF
	test_cmp expect actual &&
	"$FILED_PYTHON" evcheck.py format r3.out &&
	"$FILED_PYTHON" -c "
import sys
for n in sys.stdin.read().split():
	raw = n.encode().decode(\"unicode_escape\").encode(\"latin-1\")
	print(raw.decode())
" <actual | sort >decoded &&
	printf "%s\n" "with space" "back\\slash" "$(printf "caf\\303\\251")" - \
		"a=b,c;d" | sort >expect &&
	test_cmp expect decoded &&
	stop_reader r3
'

test_expect_success 'poll(2) and epoll: not readable with nothing new, readable soon after a change' '
	cat >poll.py <<-\EOF &&
	import os, select, selectors, sys, time
	out = open("poll.out", "w")
	fd = os.open("mnt/events", os.O_RDONLY)
	p = select.poll()
	p.register(fd, select.POLLIN)
	out.write("idle %r\n" % p.poll(0))
	out.write("idle %r\n" % p.poll(300))
	open("poll.ready", "w").close()
	t0 = time.monotonic()
	ev = p.poll(20000)
	out.write("woke %r %s\n" % ([e & select.POLLIN for _, e in ev],
	    "soon" if time.monotonic() - t0 < 10 else "late"))
	buf = os.read(fd, 65536)
	out.write("read %s\n" % buf.split(b"\n")[0].split(b" ", 1)[1].decode())
	while b" p1 complete " not in buf:
	    buf += os.read(fd, 65536)
	s = selectors.DefaultSelector()
	s.register(fd, selectors.EVENT_READ)
	out.write("epoll idle %r\n" % [k.fd for k, _ in s.select(0.3)])
	open("poll.ready2", "w").close()
	t0 = time.monotonic()
	ev = s.select(20)
	out.write("epoll woke %d %s\n" % (len(ev),
	    "soon" if time.monotonic() - t0 < 10 else "late"))
	buf = os.read(fd, 65536)
	out.write("read %s\n" % buf.split(b"\n")[0].split(b" ", 1)[1].decode())
	out.close()
	EOF
	spawn pollc "$FILED_PYTHON" poll.py &&
	test_when_finished "kill \$(cat pollc.pid) 2>/dev/null || :" &&
	wait_for 10 "test -e poll.ready" &&
	echo true >mnt/pending/p1 &&
	wait_for 20 "test -e poll.ready2" &&
	echo true >mnt/pending/p2 &&
	wait_for 30 "test -s pollc.rc" &&
	test "$(cat pollc.rc)" = 0 &&
	cat >expect <<-EOF &&
	idle []
	idle []
	woke [1] soon
	read p1 pending
	epoll idle []
	epoll woke 1 soon
	read p2 pending
	EOF
	test_cmp expect poll.out
'

test_expect_success 'reads: a small read gets part of a line, the next the rest; no seek; no write' '
	cat >small.py <<-\EOF &&
	import errno, os
	fd = os.open("mnt/events", os.O_RDONLY)
	open("small.open", "w").close()
	line = b""
	while not line.endswith(b"\n"):
	    part = os.read(fd, 7)
	    assert 0 < len(part) <= 7
	    line += part
	open("small.out", "wb").write(line)
	try:
	    os.lseek(fd, 0, os.SEEK_SET)
	except OSError as e:
	    open("small.seek", "w").write(errno.errorcode[e.errno] + "\n")
	EOF
	spawn smallc "$FILED_PYTHON" small.py &&
	test_when_finished "kill \$(cat smallc.pid) 2>/dev/null || :" &&
	wait_for 10 "test -e small.open" &&
	echo true >mnt/pending/small &&
	wait_for 10 "test -s smallc.rc" &&
	test "$(cat smallc.rc)" = 0 &&
	cut -d" " -f2- small.out >actual &&
	echo "small pending" >expect &&
	test_cmp expect actual &&
	echo ESPIPE >expect &&
	test_cmp expect small.seek &&
	test "$(errno_of open mnt/events O_WRONLY)" = EACCES &&
	test "$(errno_of open mnt/events O_RDWR)" = EACCES
'

test_expect_success 'a signal interrupts a read waiting at the end; nothing stays parked' '
	spawn int env --default-signal=INT cat mnt/events &&
	pid=$(cat int.pid) &&
	wait_for 10 "test \"\$(cat /proc/$pid/wchan)\" = request_wait_answer" &&
	kill -INT $pid &&
	wait_for 5 "test -s int.rc" &&
	test "$(cat int.rc)" = 130 &&
	wait_for 5 "filed_log | grep -q \"events: a read was interrupted (0 parked)\""
'

# ran PREFIX: the last job of each writer of mkjobs.py is complete.
ran() {
	for ran__i in 2 3 4 5 6 7 8 9
	do
		test -e "mnt/complete/${1}999$ran__i" || return 1
	done
}

# run_many PREFIX: queue 10,000 jobs and wait until they ran; their
# seconds in PREFIX.secs, filed's RSS before and after in PREFIX.rss.
# Listing pending/ while it holds thousands of jobs costs filed memory
# (the listing's snapshot), so the wait looks at the last jobs first.
run_many() {
	rss >"$1.rss" &&
	run__start=$(date +%s) &&
	"$FILED_PYTHON" mkjobs.py mnt/pending "$1" 10000 8 &&
	wait_for 600 "ran $1" &&
	wait_for 60 idle &&
	echo $(( $(date +%s) - run__start )) >"$1.secs" &&
	rss >>"$1.rss"
}

# grown PREFIX: by how much filed's RSS grew in run_many PREFIX, in KiB.
grown() {
	echo $(( $(tail -n 1 "$1.rss") - $(head -n 1 "$1.rss") ))
}

test_expect_success 'a stalled reader: bounded backlog, the queue drains, one missed line' '
	run_many alone &&
	cat >stall.py <<-\EOF &&
	# Read once, wait for gate.stall, then read the backlog (stall.rest)
	# until nothing waits (stall.drained), then on until "marker" is
	# complete.
	import os, select, time
	fd = os.open("mnt/events", os.O_RDONLY)
	open("stall.open", "w").close()
	open("stall.first", "wb").write(os.read(fd, 65536))
	while not os.path.exists("gate.stall"):
	    time.sleep(0.05)
	p = select.poll()
	p.register(fd, select.POLLIN)
	rest = b""
	while p.poll(0):
	    rest += os.read(fd, 65536)
	open("stall.drained", "w").close()
	end = b" marker complete attempt=1 exit=0 reason=exit\n"
	while not rest.endswith(end):
	    rest += os.read(fd, 65536)
	open("stall.rest", "wb").write(rest)
	EOF
	spawn stallc "$FILED_PYTHON" stall.py &&
	test_when_finished "kill \$(cat stallc.pid) 2>/dev/null || :" &&
	wait_for 10 "test -e stall.open" &&
	echo true >mnt/pending/first &&
	wait_for 10 "test -s stall.first" &&
	run_many many &&
	echo "10000 jobs, no reader: $(cat alone.secs) s, RSS +$(grown alone) KiB" &&
	echo "10000 jobs, a stalled reader: $(cat many.secs) s, RSS +$(grown many) KiB" &&
	test "$(cat many.secs)" -le $(( 2 * $(cat alone.secs) + 10 )) &&
	test "$(grown many)" -le $(( $(grown alone) + STALL_RSS_SLACK_KIB )) &&
	open_gate stall &&
	wait_for 30 "test -e stall.drained" &&
	echo true >mnt/pending/marker &&
	wait_for 30 "test -s stallc.rc" &&
	test "$(cat stallc.rc)" = 0 &&
	"$FILED_PYTHON" evcheck.py format stall.first stall.rest &&
	grep -c " - missed " stall.rest >count &&
	echo 1 >expect &&
	test_cmp expect count &&
	k1=$(grep -c "" stall.first) &&
	n=$(head -n 1 stall.rest | grep " - missed " | cut -d" " -f4) &&
	k2=$(( $(grep -c "" stall.rest) - 1 )) &&
	echo "read $k1 lines, then missed $n, then $k2 lines" &&
	test $k2 = $((4096 + 3)) &&
	test $((k1 + n + k2)) = $((3 * 10002)) &&
	tail -n 3 stall.rest | cut -d" " -f2,3 >actual &&
	printf "marker %s\n" pending active complete >expect &&
	test_cmp expect actual
'

test_expect_success 'filed stops: readers get end of file; a waiting poll wakes' '
	gate held >mnt/pending/held &&
	wait_job_in active held &&
	reader e1 &&
	cat >loop.sh <<-\EOF &&
	while read -r t n s rest
	do
	    echo "$n $s"
	done <mnt/events
	echo loop ended
	EOF
	spawn loop sh loop.sh &&
	wait_for 10 "holds_events \$(cat loop.pid)" &&
	echo true >mnt/pending/last &&
	wait_for 10 "seen e1 last complete && grep -q \"last complete\" loop.out" &&
	cat >eofpoll.py <<-\EOF &&
	import os, select
	fd = os.open("mnt/events", os.O_RDONLY)
	p = select.poll()
	p.register(fd, select.POLLIN)
	ev = p.poll(60000)
	print([e & select.POLLIN for _, e in ev], os.read(fd, 100))
	EOF
	spawn eofp "$FILED_PYTHON" eofpoll.py &&
	test_when_finished "kill \$(cat eofp.pid) 2>/dev/null || :" &&
	wait_for 10 "grep -q poll /proc/\$(cat eofp.pid)/wchan" &&
	cat >after.py <<-\EOF &&
	# Read on after the end of file, for the line of the interrupted job.
	import os, time
	fd = os.open("mnt/events", os.O_RDONLY)
	open("after.open", "w").close()
	buf, eofs, end = b"", 0, time.monotonic() + 30
	want = b" held pending attempt=1 reason=interrupted\n"
	while want not in buf and time.monotonic() < end:
	    b = os.read(fd, 65536)
	    if not b:
	        eofs += 1
	        time.sleep(0.01)
	    buf += b
	os.write(1, buf.split(b" ", 1)[1])
	print(eofs > 0)
	EOF
	spawn after "$FILED_PYTHON" after.py &&
	wait_for 10 "test -e after.open" &&
	filed_stop &&
	wait_for 10 "test -s e1.rc && test -s loop.rc && test -s eofp.rc" &&
	wait_for 10 "test -s after.rc" &&
	echo 0 0 0 0 >expect &&
	echo $(cat e1.rc loop.rc eofp.rc after.rc) >actual &&
	test_cmp expect actual &&
	printf "%s\n" "held pending attempt=1 reason=interrupted" True >expect &&
	test_cmp expect after.out &&
	test_must_be_empty e1.err &&
	tail -n 1 loop.out >actual &&
	echo "loop ended" >expect &&
	test_cmp expect actual &&
	echo "[1] b${SQ}${SQ}" >expect &&
	test_cmp expect eofp.out
'

test_expect_success 'events is 0640 and filed'"'"'s; chmod and chown are kept across a restart' '
	open_gate held &&
	filed_start &&
	wait_job_in complete held &&
	stat -c "%a %u %g %s" mnt/events >actual &&
	echo "640 $(id -u) $(id -g) 0" >expect &&
	test_cmp expect actual &&
	chmod 0604 mnt/events &&
	chown 1234:5678 mnt/events &&
	filed_stop &&
	filed_start &&
	stat -c "%a %u %g" mnt/events >actual &&
	echo "604 1234 5678" >expect &&
	test_cmp expect actual &&
	reader m1 &&
	echo true >mnt/pending/moded &&
	wait_for 10 "seen m1 moded complete" &&
	stop_reader m1
'

test_expect_success OTHERS 'the mode decides who may read events' '
	spawn o1 setpriv --reuid=65534 --regid=65534 --clear-groups \
		cat mnt/events &&
	wait_for 10 "holds_events \$(cat o1.pid)" &&
	echo true >mnt/pending/others &&
	wait_for 10 "seen o1 others complete" &&
	stop_reader o1 &&
	chmod 0600 mnt/events &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c "exec 3<mnt/events" 2>err &&
	grep "Permission denied" err
'

test_expect_success 'stop filed' '
	chmod 0640 mnt/events &&
	chown "$(id -u):$(id -g)" mnt/events &&
	filed_stop
'

test_done
