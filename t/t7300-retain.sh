#!/bin/sh

test_description='keep_complete and keep_failed: finished jobs filed removes

A job that has been in complete/ (failed/) for longer than keep_complete
(keep_failed) seconds, counted from its mtime, is removed by filed as an
rm would remove it: its output file goes, events says removed with
reason=expired, a reader that has it open reads on. Not before its time,
and across a restart; a backlog goes while the mount keeps answering; a
user'"'"'s rm at the same moment gets ENOENT at worst; a refused setting
never takes effect.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# mtime_of DIR/NAME: the job's mtime, seconds since the epoch, to the ns.
mtime_of() {
	stat -c %.9Y "mnt/$1"
}

# age_at_least MTIME SECS: at least SECS seconds have passed since MTIME.
age_at_least() {
	awk -v t="$(date +%s.%N)" -v m="$1" -v k="$2" \
		'BEGIN { exit !(t - m >= k) }'
}

# kept_unless_due DIR/NAME MTIME SECS: the job is there, unless SECS
# seconds have passed since MTIME (when it may be gone: the check is moot).
kept_unless_due() {
	kd__t=$(date +%s.%N)
	test -e "mnt/$1" ||
	awk -v t="$kd__t" -v m="$2" -v k="$3" 'BEGIN { exit !(t - m >= k) }' || {
		echo "$1 is gone before it was $3 s old" >&2
		return 1
	}
}

# setting JSON: write JSON to config.json.
setting() {
	echo "$1" >mnt/config.json
}

# removed_line NAME: events.out has the line of NAME removed by expiry.
removed_line() {
	grep -E "^[^ ]+ $1 removed from=(complete|failed) reason=expired\$" \
		events.out
}

test_expect_success 'start filed' '
	filed_ini max_jobs=4 max_retries=0 backoff_base=0 &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	echo "exit 1" >mnt/pending/bad1 &&
	wait_job_in failed bad1 &&
	m_bad1=$(mtime_of failed/bad1)
'

test_expect_success 'keep_complete and keep_failed are 0 by default' '
	test "$(jq .keep_complete mnt/config.json)" = 0 &&
	test "$(jq .keep_failed mnt/config.json)" = 0 &&
	grep -x "filed_keep_complete_seconds 0" mnt/stats &&
	grep -x "filed_keep_failed_seconds 0" mnt/stats &&
	echo "echo kept" >mnt/pending/kept1 &&
	wait_job_in complete kept1
'

test_expect_success 'keep_complete: a job goes once it is that old, not before, with its output' '
	setting "{\"keep_complete\": 3}" &&
	grep -x "filed_keep_complete_seconds 3" mnt/stats &&
	echo "echo old" >mnt/pending/old1 &&
	wait_job_in complete old1 &&
	m_old1=$(mtime_of complete/old1) &&
	log=$(log_of complete/old1) &&
	test -s "$log" &&
	wait_for 10 "age_at_least $m_old1 1.5" &&
	echo "echo young" >mnt/pending/young1 &&
	wait_job_in complete young1 &&
	m_young1=$(mtime_of complete/young1) &&
	wait_for 10 "age_at_least $m_old1 2.5" &&
	kept_unless_due complete/old1 "$m_old1" 3 &&
	wait_for 10 "! test -e mnt/complete/old1" &&
	kept_unless_due complete/young1 "$m_young1" 3 &&
	path_is_missing "$log" &&
	wait_for 10 "! test -e mnt/complete/young1" &&
	wait_for 5 "removed_line old1" &&
	wait_for 5 "removed_line young1"
'

test_expect_success 'failed/ is left alone while keep_failed is 0' '
	wait_for 10 "age_at_least $m_bad1 3.5" &&
	test -e mnt/failed/bad1
'

test_expect_success 'a reader of a job that expires reads on to the end, as after an rm' '
	seq 1 20000 >expect &&
	echo "seq 1 20000" >mnt/pending/reader &&
	wait_job_in complete reader &&
	(
		exec 3<mnt/complete/reader &&
		dd bs=100 count=1 status=none <&3 >first &&
		wait_for 10 "! test -e mnt/complete/reader" &&
		cat <&3 >rest
	) &&
	head -c 100 expect >expect.first &&
	test_cmp expect.first first &&
	cat first rest >actual &&
	test_cmp expect actual &&
	test_must_fail cat mnt/complete/reader
'

test_expect_success 'keep_failed removes failed and cancelled jobs; keep_complete 0 keeps complete ones' '
	setting "{\"keep_complete\": 0, \"keep_failed\": 2}" &&
	wait_for 5 "! test -e mnt/failed/bad1" &&
	echo "echo done" >mnt/pending/stays &&
	wait_job_in complete stays &&
	m_stays=$(mtime_of complete/stays) &&
	echo "exit 3" >mnt/pending/bad2 &&
	gate never >mnt/pending/cancelled &&
	wait_job_in active cancelled &&
	mv mnt/active/cancelled mnt/failed/ &&
	wait_job_in failed bad2 &&
	wait_for 10 "! test -e mnt/failed/bad2 && ! test -e mnt/failed/cancelled" &&
	wait_for 5 "age_at_least $m_stays 2.5" &&
	test -e mnt/complete/stays &&
	wait_for 5 "removed_line bad2 && removed_line cancelled"
'

test_expect_success 'raising keep_complete keeps a job at once; lowering it removes it at once' '
	setting "{\"keep_complete\": 2, \"keep_failed\": 0}" &&
	wait_for 5 "! test -e mnt/complete/stays" &&
	echo "echo raise" >mnt/pending/raise &&
	wait_job_in complete raise &&
	m_raise=$(mtime_of complete/raise) &&
	setting "{\"keep_complete\": 100}" &&
	wait_for 10 "age_at_least $m_raise 3" &&
	test -e mnt/complete/raise &&
	setting "{\"keep_complete\": 1}" &&
	wait_for 3 "! test -e mnt/complete/raise"
'

if command -v strace >/dev/null 2>&1 &&
	strace -f -qq -o /dev/null true 2>/dev/null
then
	test_set_prereq STRACE
fi

# idle_calls SECS: the system calls filed makes in SECS seconds, one a
# line, but for the waits it was in when strace came and left.
idle_calls() {
	timeout -s INT "$1" strace -f -qq -p "$filed_pid" -o idle.strace ||
	test $? = 124 || return 1
	grep -v -E "(epoll_wait|epoll_pwait|restart_syscall|futex)\(|resumed>|<detached|^[0-9]+ +\+\+\+" \
		idle.strace || :
}

# idle_quiet SECS: in one of three tries of SECS seconds (the first may
# see the end of what came before), filed makes no system call.
idle_quiet() {
	for iq__try in 1 2 3
	do
		idle_calls "$1" >calls || return 1
		test -s calls || return 0
	done
	echo "filed made system calls while idle:" >&2
	cat calls >&2
	return 1
}

test_expect_success STRACE 'with nothing that can expire, filed makes no system call' '
	test -z "$(ls mnt/complete)$(ls mnt/failed)" &&
	idle_quiet 2
'

test_expect_success STRACE 'with a job that expires in 1000 s, filed sleeps until then' '
	setting "{\"keep_complete\": 1000}" &&
	echo "echo far" >mnt/pending/far &&
	wait_job_in complete far &&
	idle_quiet 2 &&
	rm mnt/complete/far
'

test_expect_success 'a job that expired while filed was stopped goes at start; a younger one stays' '
	setting "{\"keep_complete\": 4}" &&
	echo "echo a" >mnt/pending/early &&
	wait_job_in complete early &&
	m_early=$(mtime_of complete/early) &&
	wait_for 10 "age_at_least $m_early 2" &&
	echo "echo b" >mnt/pending/late &&
	wait_job_in complete late &&
	m_late=$(mtime_of complete/late) &&
	filed_stop &&
	wait_for 10 "age_at_least $m_early 4.5" &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	wait_for 3 "! test -e mnt/complete/early" &&
	kept_unless_due complete/late "$m_late" 4 &&
	wait_for 10 "! test -e mnt/complete/late" &&
	filed_log | grep "removed 1 finished job older than keep_complete"
'

test_expect_success 'a refused keep or cap setting is EINVAL and changes nothing' '
	setting "{\"keep_complete\": 0}" &&
	echo "echo k" >mnt/pending/survivor &&
	wait_job_in complete survivor &&
	m_survivor=$(mtime_of complete/survivor) &&
	cp mnt/config.json json.before &&
	cp state/filed.ini ini.before &&
	for bad in "{\"keep_complete\": -1}" "{\"keep_complete\": \"1\"}" \
		"{\"keep_failed\": 1000000001}" "{\"keep_complete\": true}" \
		"{\"keep_complete\": 0.5, \"max_retries\": -1}" \
		"{\"max_logs_total\": -1}" "{\"max_logs_total\": 1.5}" \
		"{\"max_logs_total\": 100000000000001}"
	do
		test "$(errno_of write mnt/config.json "$bad")" = EINVAL || return 1
	done &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
'

test_expect_success 'a bad keep_complete at SIGHUP is logged by file and line, and changes nothing' '
	printf "[queue]\nkeep_complete = 0.5\nkeep_failed = -1\n" >state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:3:.*keep_failed\"" &&
	printf "[queue]\nkeep_complete = 0.5s\n" >state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:2:.*keep_complete\"" &&
	test_cmp json.before mnt/config.json &&
	wait_for 10 "age_at_least $m_survivor 1.5" &&
	test -e mnt/complete/survivor
'

test_expect_success 'and not after a restart either' '
	cp ini.before state/filed.ini &&
	filed_stop &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	test_cmp json.before mnt/config.json &&
	wait_for 10 "age_at_least $m_survivor 2" &&
	test -e mnt/complete/survivor
'

# rmrace DIR KEEP [mv] NAME...: unlink each job of DIR (or with mv, rename
# it to pending/) at about the moment it becomes KEEP seconds old (a few ms
# before or after), in the order they finished; print NAME OK or NAME
# ERRNO for each.
rmrace_py='
import errno, os, sys, time
d, keep, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
mv = names[0] == "mv"
if mv:
	names = names[1:]
jobs = sorted((os.stat(os.path.join(d, n)).st_mtime_ns, n) for n in names)
res = {}
for i, (m, n) in enumerate(jobs):
	due = m / 1e9 + keep + (i % 5 - 2) * 0.003
	now = time.time()
	if due > now:
		time.sleep(due - now)
	try:
		if mv:
			os.rename(os.path.join(d, n),
			    os.path.join(d, "..", "pending", n))
		else:
			os.unlink(os.path.join(d, n))
		res[n] = "OK"
	except OSError as e:
		res[n] = errno.errorcode[e.errno]
for n in names:
	print(n, res[n])
'

test_expect_success 'an rm as the job expires: one of the two removes it, the other finds no job' '
	setting "{\"keep_complete\": 4}" &&
	names= &&
	for i in $(seq 1 40)
	do
		names="$names race$i" &&
		echo "echo $i" >mnt/pending/race$i || return 1
	done &&
	for n in $names
	do
		wait_job_in complete $n || return 1
	done &&
	"$FILED_PYTHON" -c "$rmrace_py" mnt/complete 4 $names >race.out &&
	cat race.out &&
	test "$(grep -c -E " (OK|ENOENT)\$" race.out)" = 40 &&
	for n in $names
	do
		path_is_missing mnt/complete/$n &&
		wait_for 5 "grep -q -E \"^[^ ]+ $n removed from=complete\" events.out" &&
		test "$(grep -c -E "^[^ ]+ $n removed " events.out)" = 1 || return 1
	done &&
	for n in $(sed -n "s/ OK\$//p" race.out)
	do
		grep -E "^[^ ]+ $n removed from=complete\$" events.out || return 1
	done &&
	for n in $(sed -n "s/ ENOENT\$//p" race.out)
	do
		grep -E "^[^ ]+ $n removed from=complete reason=expired\$" events.out ||
		return 1
	done &&
	echo "removed by rm: $(grep -c " OK\$" race.out), by expiry: $(grep -c " ENOENT\$" race.out)"
'

test_expect_success 'an mv to pending/ as the job expires: it runs again, or mv finds no job' '
	names= &&
	for i in $(seq 1 20)
	do
		names="$names mv$i" &&
		echo "echo $i" >mnt/pending/mv$i || return 1
	done &&
	for n in $names
	do
		wait_job_in complete $n || return 1
	done &&
	"$FILED_PYTHON" -c "$rmrace_py" mnt/complete 4 mv $names >mvrace.out &&
	cat mvrace.out &&
	test "$(grep -c -E " (OK|ENOENT)\$" mvrace.out)" = 20 &&
	for n in $(sed -n "s/ OK\$//p" mvrace.out)
	do
		wait_for 5 "grep -q -E \"^[^ ]+ $n pending from=complete\\\$\" events.out" &&
		! grep -E "^[^ ]+ $n removed" events.out || return 1
	done &&
	for n in $(sed -n "s/ ENOENT\$//p" mvrace.out)
	do
		path_is_missing mnt/pending/$n &&
		path_is_missing mnt/complete/$n &&
		wait_for 5 "grep -q -E \"^[^ ]+ $n removed from=complete reason=expired\\\$\" events.out" || return 1
	done &&
	echo "run again: $(grep -c " OK\$" mvrace.out), removed: $(grep -c " ENOENT\$" mvrace.out)"
'

test_expect_success 'the journal replays after the race' '
	filed_stop &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	test -z "$(ls mnt/complete | grep "^race")"
'

# mkjobs DIR PREFIX N: create N jobs that print nothing, from one process.
mkjobs_py='
import os, sys
d, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
	with open(os.path.join(d, "%s%d" % (prefix, i)), "w") as f:
		f.write("echo %d\n" % i)
'

# removed_complete: the count of jobs removed from complete/, as stats has it.
removed_complete() {
	sed -n "s/^filed_jobs_removed_total{state=\"complete\"} //p" mnt/stats
}

test_expect_success 'set up a backlog: 5,000 complete jobs' '
	setting "{\"keep_complete\": 0}" &&
	: >mnt/pending/.probe &&
	echo "echo no; exit 1" >mnt/pending/keptfail &&
	wait_job_in failed keptfail &&
	keptlog=$(log_of failed/keptfail) &&
	"$FILED_PYTHON" -c "$mkjobs_py" mnt/pending b 5000 &&
	wait_for 180 "test \"\$(ls mnt/complete | grep -c ^b)\" = 5000" &&
	before=$(removed_complete) &&
	test -n "$before"
'

test_expect_success 'the backlog goes when keep_complete is lowered, while ls and stat keep answering' '
	setting "{\"keep_complete\": 0.001}" &&
	n=0 &&
	end=$(( $(date +%s) + 120 )) &&
	while ls mnt/complete | grep -q "^b"
	do
		stat mnt/pending/.probe >/dev/null &&
		ls mnt/pending >/dev/null &&
		test "$(date +%s)" -lt "$end" || return 1
		n=$((n + 1))
	done &&
	echo "ls and stat answered $n times while the backlog went" &&
	test -z "$(ls mnt/complete)" &&
	test -e mnt/failed/keptfail &&
	echo "$keptlog" | sed "s,^state/output/,," >expect &&
	ls state/output | grep -v "^\." >actual &&
	test_cmp expect actual &&
	wait_for 5 "test \"\$(removed_complete)\" -ge $((before + 5000))"
'

test_expect_success 'after a restart the backlog stays removed' '
	filed_stop &&
	filed_start &&
	test -z "$(ls mnt/complete)" &&
	test -e mnt/failed/keptfail &&
	test -e mnt/pending/.probe
'

# filed under strace, every fdatasync of the journal failing with EIO
# (journal.new is not traced, so the rewrite that follows each one works).
traced_filed -pool1 -P "$TRASH_REAL/state/journal" \
	-e trace=fdatasync -e inject=fdatasync:error=EIO:when=1+

test_expect_success STRACE 'a removal the journal refuses: logged once, the job stays, tried again' '
	setting "{\"keep_complete\": 0}" &&
	echo "echo refused" >mnt/pending/refused &&
	wait_job_in complete refused &&
	filed_stop &&
	filed_ini max_jobs=4 max_retries=0 backoff_base=0 keep_complete=0.5 &&
	traced_filed_start &&
	wait_for 10 "filed_log | grep -q \"job .refused.: cannot remove it: Input/output error; trying again in 1 s\"" &&
	wait_for 10 "test \$(grep -c fdatasync strace.out) -ge 3" &&
	test -e mnt/complete/refused &&
	test "$(filed_log | grep -c "cannot remove it")" = 1 &&
	traced_stop
'

test_expect_success STRACE 'once the journal takes it, the job goes' '
	filed_start &&
	wait_for 5 "! test -e mnt/complete/refused"
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
