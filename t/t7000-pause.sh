#!/bin/sh

test_description='pause: max_jobs = 0

With max_jobs 0 no attempt starts: the running ones finish, new jobs wait
in pending/, and so do retries, whose time may pass meanwhile; stats says
filed_paused 1. The pause holds across a restart. max_jobs above 0 starts
the waiting jobs at once, the retries in the order their times came.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# stat_of SERIES: the value of SERIES in the stats file.
stat_of() {
	awk -v s="$1" '$1 == s { print $2 }' mnt/stats
}

# never SECS COND: COND stays false for SECS seconds (polled).
never() {
	! wait_for "$1" "$2" 2>/dev/null
}

# flaky NAME: a job that waits for gate NAME, fails its first attempt and
# appends NAME to the file order in its second.
flaky() {
	gate "$1" &&
	echo 'test "$FILED_ATTEMPT" = 2 || exit 1' &&
	echo "echo $1 >>\"$TRASH/order\""
}

test_expect_success 'start filed: one job at a time, one retry after 1 s' '
	filed_ini max_jobs=1 max_retries=1 backoff_base=1 backoff_mult=1 &&
	filed_start &&
	test "$(stat_of filed_paused)" = 0
'

test_expect_success 'pause while a job runs: it finishes, a new job waits' '
	gate a >mnt/pending/a &&
	wait_job_in active a &&
	echo "{\"max_jobs\": 0}" >mnt/config.json &&
	test "$(jq .max_jobs mnt/config.json)" = 0 &&
	grep -E "^max_jobs *= *0\$" state/filed.ini &&
	echo "touch \"$TRASH/ran.b\"" >mnt/pending/b &&
	open_gate a &&
	wait_job_in complete a &&
	never 1 "test -e \"\$TRASH/ran.b\"" &&
	test "$(xattr mnt/pending/b state)" = pending &&
	test -z "$(ls mnt/active)"
'

test_expect_success 'stats says paused, in the text format' '
	cat mnt/stats >stats.out &&
	"$FILED_PYTHON" "$SHARNESS_TEST_SRCDIR/promcheck.py" stats.out &&
	grep -x "filed_paused 1" stats.out &&
	grep -x "filed_max_jobs 0" stats.out &&
	grep -x "# TYPE filed_paused gauge" stats.out
'

test_expect_success 'the pause holds across a restart' '
	filed_stop &&
	filed_start &&
	test "$(jq .max_jobs mnt/config.json)" = 0 &&
	test "$(stat_of filed_paused)" = 1 &&
	never 1 "test -e \"\$TRASH/ran.b\"" &&
	test "$(xattr mnt/pending/b state)" = pending
'

test_expect_success 'resume: the waiting job starts at once' '
	echo "{\"max_jobs\": 1}" >mnt/config.json &&
	wait_job_in complete b &&
	test -e ran.b &&
	test "$(stat_of filed_paused)" = 0
'

test_expect_success 'retries whose time passes while paused wait in pending/' '
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	flaky r1 >mnt/pending/r1 &&
	flaky r2 >mnt/pending/r2 &&
	wait_job_in active r1 &&
	wait_job_in active r2 &&
	echo "{\"max_jobs\": 0}" >mnt/config.json &&
	open_gate r2 &&
	wait_for 10 "xattr mnt/pending/r2 retry_at" &&
	open_gate r1 &&
	wait_for 10 "xattr mnt/pending/r1 retry_at" &&
	wait_for 10 "! xattr mnt/pending/r2 retry_at && ! xattr mnt/pending/r1 retry_at" &&
	test "$(xattr mnt/pending/r1 state)" = pending &&
	test "$(xattr mnt/pending/r2 state)" = pending &&
	test "$(xattr mnt/pending/r1 attempts)" = 1 &&
	never 1 "test -e \"\$TRASH/order\""
'

test_expect_success 'resume: they run, in the order their times came' '
	echo "{\"max_jobs\": 1}" >mnt/config.json &&
	wait_job_in complete r1 &&
	wait_job_in complete r2 &&
	printf "r2\nr1\n" >expect &&
	test_cmp expect order &&
	test "$(xattr mnt/complete/r1 attempts)" = 2
'

test_expect_success 'pause and another setting written at once: both apply' '
	{ echo "{\"max_jobs\": 0}" >mnt/config.json & } &&
	other=$! &&
	echo "{\"timeout\": 7}" >mnt/config.json &&
	wait "$other" &&
	test "$(jq .max_jobs mnt/config.json)" = 0 &&
	test "$(jq .timeout mnt/config.json)" = 7 &&
	echo "touch \"$TRASH/ran.c\"" >mnt/pending/c &&
	never 1 "test -e \"\$TRASH/ran.c\"" &&
	echo "{\"max_jobs\": 1}" >mnt/config.json &&
	wait_job_in complete c
'

test_expect_success 'max_jobs below 0 or above 4096 is still refused' '
	cp mnt/config.json json.before &&
	test "$(errno_of write mnt/config.json "{\"max_jobs\": -1}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"max_jobs\": 4097}")" = EINVAL &&
	test_cmp json.before mnt/config.json
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
