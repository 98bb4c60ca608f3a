#!/bin/sh

test_description='a job'"'"'s policy: user.filed.* set on drafts and failed jobs

setfattr on a draft (pending/.NAME) or a failed job sets its own
max_retries, timeout, kill_grace, backoff_base, backoff_mult and nice,
checked as config.json checks the settings; mv queues the draft with its
policy. getfattr shows the values back, setfattr -x removes them, and they
are kept across restarts, a rerun from failed/ and a compaction of the
journal. A bad value (EINVAL), an oversized one (E2BIG), a job in the wrong
directory (EPERM) or a job still being written (EBUSY) is refused with a
log line and leaves the journal as it was, and so does a setfattr whose
journal write fails (strace injects the fault), even after a restart.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if ! command -v setfattr >/dev/null 2>&1
then
	skip_all="setfattr is needed"
	test_done
fi
if command -v strace >/dev/null 2>&1 &&
	strace -f -qq -o /dev/null -e trace=write \
		-e inject=write:error=ENOSPC:when=1 true 2>/dev/null
then
	test_set_prereq STRACE
fi

# setp FILE NAME VALUE: setfattr -n user.filed.NAME -v VALUE FILE.
setp() {
	setfattr -n "user.filed.$2" -v "$3" "$1"
}

# keep_journal, then same_journal: the journal has not changed meanwhile.
keep_journal() {
	cp state/journal journal.kept
}
same_journal() {
	cmp state/journal journal.kept
}

test_expect_success 'start filed: no retries, no timeout by default' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 timeout=0 &&
	filed_start
'

test_expect_success 'a draft takes the overrides; getfattr shows them back' '
	echo "exit 3" >mnt/pending/.tries &&
	setp mnt/pending/.tries max_retries 2 &&
	setp mnt/pending/.tries backoff_base 0.10 &&
	setp mnt/pending/.tries backoff_mult 1 &&
	setp mnt/pending/.tries kill_grace 2.5 &&
	setp mnt/pending/.tries nice 4 &&
	test "$(xattr mnt/pending/.tries max_retries)" = 2 &&
	test "$(xattr mnt/pending/.tries backoff_base)" = 0.1 &&
	test "$(xattr mnt/pending/.tries backoff_mult)" = 1 &&
	test "$(xattr mnt/pending/.tries kill_grace)" = 2.5 &&
	test "$(xattr mnt/pending/.tries nice)" = 4 &&
	getfattr -d mnt/pending/.tries >all &&
	grep "^user.filed.max_retries=\"2\"$" all &&
	test "$(errno_of getxattr mnt/pending/.tries user.filed.timeout)" = ENODATA
'

test_expect_success 'setfattr -x removes one; removing one unset is ENODATA' '
	setfattr -x user.filed.nice mnt/pending/.tries &&
	test "$(errno_of getxattr mnt/pending/.tries user.filed.nice)" = ENODATA &&
	test "$(errno_of removexattr mnt/pending/.tries user.filed.nice)" = ENODATA &&
	test "$(xattr mnt/pending/.tries max_retries)" = 2
'

# xflags FILE NAME VALUE FLAG: setxattr(2) of user.filed.NAME with FLAG
# (XATTR_CREATE or XATTR_REPLACE); prints OK or the errno name.
xflags() {
	"$FILED_PYTHON" -c '
import errno, os, sys
try:
	os.setxattr(sys.argv[1], "user.filed." + sys.argv[2],
	    os.fsencode(sys.argv[3]), getattr(os, sys.argv[4]))
	print("OK")
except OSError as e:
	print(errno.errorcode.get(e.errno, e.errno))
' "$@"
}

test_expect_success 'XATTR_CREATE and XATTR_REPLACE are honoured' '
	test "$(xflags mnt/pending/.tries max_retries 5 XATTR_CREATE)" = EEXIST &&
	test "$(xflags mnt/pending/.tries timeout 5 XATTR_REPLACE)" = ENODATA &&
	test "$(xattr mnt/pending/.tries max_retries)" = 2 &&
	test "$(xflags mnt/pending/.tries timeout 5 XATTR_CREATE)" = OK &&
	test "$(xflags mnt/pending/.tries timeout 6 XATTR_REPLACE)" = OK &&
	test "$(xattr mnt/pending/.tries timeout)" = 6 &&
	setfattr -x user.filed.timeout mnt/pending/.tries
'

test_expect_success 'an override changes one job'"'"'s retry count, not another'"'"'s' '
	mv mnt/pending/.tries mnt/pending/tries &&
	echo "exit 3" >mnt/pending/plain &&
	wait_job_in failed tries &&
	wait_job_in failed plain &&
	test "$(xattr mnt/failed/tries attempts)" = 3 &&
	test "$(xattr mnt/failed/plain attempts)" = 1 &&
	test "$(xattr mnt/failed/tries max_retries)" = 2
'

test_expect_success 'an override changes one job'"'"'s timeout, not another'"'"'s' '
	echo "{\"timeout\": 1, \"kill_grace\": 0}" >mnt/config.json &&
	printf "sleep 2; echo patient\n" >mnt/pending/.patient &&
	setp mnt/pending/.patient timeout 0 &&
	mv mnt/pending/.patient mnt/pending/patient &&
	printf "sleep 2; echo hasty\n" >mnt/pending/hasty &&
	wait_job_in complete patient &&
	wait_job_in failed hasty &&
	test "$(cat mnt/complete/patient)" = patient &&
	test "$(xattr mnt/failed/hasty reason)" = timeout &&
	echo "{\"timeout\": 0}" >mnt/config.json
'

test_expect_success 'nice: the setting, and one job'"'"'s own' '
	echo nice >mnt/pending/n0 &&
	wait_job_in complete n0 &&
	echo "{\"nice\": 3}" >mnt/config.json &&
	test "$(jq .nice mnt/config.json)" = 3 &&
	echo nice >mnt/pending/n3 &&
	echo nice >mnt/pending/.n7 &&
	setp mnt/pending/.n7 nice 7 &&
	mv mnt/pending/.n7 mnt/pending/n7 &&
	wait_job_in complete n3 &&
	wait_job_in complete n7 &&
	test "$(cat mnt/complete/n0)" = "$(nice)" &&
	test "$(cat mnt/complete/n3)" = 3 &&
	test "$(cat mnt/complete/n7)" = 7 &&
	echo "{\"nice\": 0}" >mnt/config.json
'

test_expect_success 'nice is a setting like the others: 0..19' '
	test "$(errno_of write mnt/config.json "{\"nice\": 20}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"nice\": 1.5}")" = EINVAL &&
	test "$(jq .nice mnt/config.json)" = 0 &&
	grep -B 1 "^nice = 0$" state/filed.ini | grep "^# Niceness"
'

test_expect_success 'bad values of every attribute: EINVAL, a log line, nothing changed' '
	echo true >mnt/pending/.bad &&
	setp mnt/pending/.bad timeout 7 &&
	keep_journal &&
	for kv in max_retries=-1 max_retries=1.5 max_retries=1000001 \
		timeout=-1 timeout=abc timeout=1e10 "timeout= 1" timeout= \
		kill_grace=-0.5 backoff_base=x backoff_mult=0.5 nice=20 nice=-1 \
		priority=101 priority=-101 priority=1.0 priority=high \
		not_before=tomorrow not_before=+ not_before=+-5 \
		not_before=2026-02-30T00:00:00Z not_before=1969-01-01T00:00:00Z
	do
		test "$(errno_of setxattr mnt/pending/.bad \
			"user.filed.${kv%%=*}" "${kv#*=}")" = EINVAL ||
		{ echo "$kv was not refused with EINVAL" >&2; return 1; }
	done &&
	same_journal &&
	test "$(xattr mnt/pending/.bad timeout)" = 7 &&
	filed_log | grep "job '"'"'.bad'"'"': setfattr user.filed.timeout refused: timeout: must be a number from 0 to 1000000000" &&
	filed_log | grep "setfattr user.filed.priority refused: priority: must be an integer from -100 to 100" &&
	filed_log | grep "setfattr user.filed.not_before refused: not_before: must be an RFC 3339 time"
'

test_expect_success 'an oversized value: E2BIG, nothing changed' '
	long=$(printf "%05000d" 1) &&
	test "$(errno_of setxattr mnt/pending/.bad user.filed.timeout "$long")" = E2BIG &&
	same_journal &&
	test "$(xattr mnt/pending/.bad timeout)" = 7 &&
	filed_log | grep "setfattr user.filed.timeout refused: the value is longer than 4096 bytes"
'

test_expect_success 'metadata and other names are refused as before' '
	test "$(errno_of setxattr mnt/pending/.bad user.filed.state failed)" = EPERM &&
	test "$(errno_of removexattr mnt/pending/.bad user.filed.id)" = EPERM &&
	test "$(errno_of setxattr mnt/pending/.bad user.note x)" = ENOTSUP &&
	test "$(errno_of setxattr mnt/pending user.filed.timeout 1)" = EPERM &&
	same_journal
'

test_expect_success 'a job queued, running or complete: EPERM, nothing changed' '
	gate busy >mnt/pending/runner &&
	gate busy2 >mnt/pending/runner2 &&
	wait_job_in active runner &&
	wait_job_in active runner2 &&
	echo true >mnt/pending/.queued &&
	mv mnt/pending/.queued mnt/pending/queued &&
	keep_journal &&
	for f in pending/queued active/runner complete/n0
	do
		test "$(errno_of setxattr mnt/$f user.filed.timeout 5)" = EPERM &&
		test "$(errno_of removexattr mnt/$f user.filed.timeout)" = EPERM ||
		{ echo "$f was not refused with EPERM" >&2; return 1; }
	done &&
	test "$(errno_of removexattr mnt/complete/n7 user.filed.nice)" = EPERM &&
	same_journal &&
	test "$(xattr mnt/complete/n7 nice)" = 7 &&
	filed_log | grep "job '"'"'queued'"'"': setfattr user.filed.timeout refused: the job is pending; only a draft (pending/.NAME) or a failed job takes a policy" &&
	open_gate busy &&
	open_gate busy2 &&
	wait_job_in complete queued
'

test_expect_success 'a draft still being written for the first time: EBUSY' '
	keep_journal &&
	(
		exec 3>mnt/pending/.open &&
		test "$(errno_of setxattr mnt/pending/.open user.filed.timeout 5)" = EBUSY &&
		same_journal
	) &&
	filed_log | grep "job '"'"'.open'"'"': setfattr user.filed.timeout refused: it is still being written"
'

test_expect_success 'a failed job takes a policy, and keeps it when run again' '
	setp mnt/failed/plain max_retries 1 &&
	setp mnt/failed/plain timeout 30 &&
	test "$(xattr mnt/failed/plain max_retries)" = 1 &&
	mv mnt/failed/plain mnt/pending/ &&
	wait_for 10 "test -e mnt/failed/plain && test \"\$(xattr mnt/failed/plain attempts)\" = 2" &&
	test "$(xattr mnt/failed/plain max_retries)" = 1 &&
	test "$(xattr mnt/failed/plain timeout)" = 30
'

test_expect_success 'two clients at once: both attributes are set' '
	echo true >mnt/pending/.two &&
	setp mnt/pending/.two priority -3 &&
	setp mnt/pending/.two not_before 2030-01-01T00:00:00Z &&
	{ setp mnt/pending/.two timeout 11 & } &&
	p1=$! &&
	{ setp mnt/pending/.two kill_grace 12 & } &&
	p2=$! &&
	wait $p1 &&
	wait $p2 &&
	test "$(xattr mnt/pending/.two timeout)" = 11 &&
	test "$(xattr mnt/pending/.two kill_grace)" = 12
'

test_expect_success 'a setfattr racing the mv that queues: set before, or refused' '
	for i in 1 2 3 4 5
	do
		echo "exit 3" >mnt/pending/.race$i &&
		{
			{ setp mnt/pending/.race$i max_retries 1 2>/dev/null
			echo $? >rc$i; } &
		} &&
		p1=$! &&
		mv mnt/pending/.race$i mnt/pending/race$i &&
		wait $p1 &&
		wait_job_in failed race$i &&
		if test "$(cat rc$i)" = 0
		then
			test "$(xattr mnt/failed/race$i attempts)" = 2
		else
			test "$(xattr mnt/failed/race$i attempts)" = 1 &&
			test "$(errno_of getxattr mnt/failed/race$i user.filed.max_retries)" = ENODATA
		fi || return 1
	done
'

test_expect_success 'the policy survives a restart' '
	filed_stop &&
	filed_start &&
	test "$(xattr mnt/pending/.bad timeout)" = 7 &&
	test "$(xattr mnt/pending/.two kill_grace)" = 12 &&
	test "$(xattr mnt/failed/plain max_retries)" = 1 &&
	test "$(xattr mnt/complete/n7 nice)" = 7
'

test_expect_success 'and a compaction of the journal, and a restart after it' '
	printf "#%059999d\n" 0 >big-draft &&
	for i in $(test_seq 1 200)
	do
		cp big-draft mnt/pending/.big$i &&
		rm mnt/pending/.big$i || return 1
	done &&
	test "$(wc -c <state/journal)" -lt 6000000 &&
	sed -n 2p state/journal | grep " next id=" &&
	grep " policy id=[0-9]* key=timeout value=7 " state/journal &&
	test "$(xattr mnt/pending/.bad timeout)" = 7 &&
	filed_stop &&
	filed_start &&
	test "$(xattr mnt/pending/.bad timeout)" = 7 &&
	test "$(xattr mnt/pending/.two timeout)" = 11 &&
	test "$(xattr mnt/pending/.two priority)" = -3 &&
	test "$(xattr mnt/pending/.two not_before)" = 2030-01-01T00:00:00Z &&
	test "$(xattr mnt/failed/plain max_retries)" = 1 &&
	test "$(xattr mnt/complete/n7 nice)" = 7 &&
	filed_stop
'

# The fault runs: filed under strace, which fails one write of the journal
# (when= counts per thread: UV_THREADPOOL_SIZE=1 keeps every journal write
# on one). A dry run counts the journal writes up to the draft; the fault
# hits the next one, the setfattr's.
traced_filed -pool1 -s 65536 -P "$TRASH_REAL/state/journal" -e trace=write

# traced_run FAULT: a fresh state, filed under strace with FAULT, a draft.
traced_run() {
	rm -rf state strace.out &&
	filed_ini max_jobs=1 &&
	FILED_FAULT=$1 &&
	traced_filed_start &&
	echo true >mnt/pending/.f &&
	wait_for 10 "grep -q \" name=.f \" state/journal"
}

test_expect_success STRACE 'dry run: count the journal writes up to the draft' '
	traced_run "" &&
	traced_stop &&
	nwrite=$(awk "/ write\\(/ { n++ } / write\\(.* name=\\.f / { print n; exit }" strace.out) &&
	echo "the draft was journal write #$nwrite" &&
	test "$nwrite" -ge 1
'

test_expect_success STRACE 'a setfattr whose journal write fails: ENOSPC' '
	traced_run "-e inject=write:error=ENOSPC:when=$((nwrite + 1))" &&
	test "$(errno_of setxattr mnt/pending/.f user.filed.timeout 9)" = ENOSPC &&
	grep "write(.*= -1 ENOSPC .*INJECTED" strace.out &&
	test "$(errno_of getxattr mnt/pending/.f user.filed.timeout)" = ENODATA &&
	filed_log | grep "job '"'"'.f'"'"': setfattr user.filed.timeout failed, nothing changed"
'

test_expect_success STRACE 'it never takes effect, not even after a restart' '
	traced_stop &&
	! grep " policy id=" state/journal &&
	filed_start &&
	test "$(errno_of getxattr mnt/pending/.f user.filed.timeout)" = ENODATA &&
	setp mnt/pending/.f timeout 9 &&
	test "$(xattr mnt/pending/.f timeout)" = 9 &&
	filed_stop
'

test_done
