#!/bin/sh

test_description='log files: spares, stray writers, restart

An attempt that writes nothing gives its new log file back as a spare
(STATEDIR/logs/.spare-N) for the next job; a job that writes keeps the
file as STATEDIR/logs/NAME. A file that another process still holds open
is never given back, so a stray process of one job cannot write into
another job'"'"'s log. Spares do not outlive a restart.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

spares() {
	ls -A state/logs | grep -c '^\.spare-' || :
}

test_expect_success 'start filed with one job at a time' '
	filed_ini max_jobs=1 max_retries=0 &&
	filed_start
'

test_expect_success 'a job that writes nothing has no log file and reads empty' '
	echo true >mnt/pending/quiet &&
	wait_job_in complete quiet &&
	test "$(stat -c %s mnt/complete/quiet)" = 0 &&
	test ! -s mnt/complete/quiet &&
	path_is_missing state/logs/quiet &&
	test "$(spares)" = 1
'

test_expect_success 'the next job that writes has a log of its own' '
	echo "echo hello" >mnt/pending/loud &&
	wait_job_in complete loud &&
	echo hello >expect &&
	test_cmp expect mnt/complete/loud &&
	test_cmp expect state/logs/loud &&
	test "$(spares)" = 0
'

test_expect_success 'a silent failure still shows its attempt in failed/' '
	echo "exit 3" >mnt/pending/silent-fail &&
	wait_job_in failed silent-fail &&
	echo "=== filed: attempt 1: exited with status 3 ===" >expect &&
	test_cmp expect mnt/failed/silent-fail
'

test_expect_success 'a file a stray process holds open is not given back' '
	{
		echo "setsid sh -c '\''touch \"$TRASH/stray-up\"; $(gate stray); echo STRAY'\'' &" &&
		echo "while ! test -e \"$TRASH/stray-up\"; do sleep 0.02; done"
	} >mnt/pending/stray &&
	wait_job_in complete stray &&
	test -e state/logs/stray &&
	echo true >mnt/pending/after-stray &&
	wait_job_in complete after-stray &&
	echo "echo mine" >mnt/pending/mine &&
	wait_job_in complete mine &&
	open_gate stray &&
	wait_for 10 "grep -q STRAY state/logs/stray" &&
	echo state/logs/stray >expect &&
	grep -rl STRAY state/logs >actual &&
	test_cmp expect actual &&
	echo mine >expect &&
	test_cmp expect mnt/complete/mine &&
	test ! -s mnt/complete/after-stray &&
	test ! -s mnt/complete/stray
'

test_expect_success 'a reader of active/NAME keeps the file as the job'"'"'s log' '
	{ gate reader; } >mnt/pending/reader &&
	wait_job_in active reader &&
	exec 7<mnt/active/reader &&
	open_gate reader &&
	wait_job_in complete reader &&
	exec 7<&- &&
	test -e state/logs/reader &&
	test ! -s mnt/complete/reader
'

test_expect_success 'a draft named like a spare does not take its file' '
	printf "{\"max_jobs\": 2}" >mnt/config.json &&
	{ gate hold; } >mnt/pending/hold &&
	wait_job_in active hold &&
	echo true >mnt/pending/make-spare &&
	wait_job_in complete make-spare &&
	printf "{\"max_jobs\": 1}" >mnt/config.json &&
	spare=$(ls -A state/logs | grep "^\.spare-" | head -n 1) &&
	test -n "$spare" &&
	echo "echo from-draft" >"mnt/pending/$spare" &&
	mv "mnt/pending/$spare" mnt/pending/from-draft &&
	test -e "state/logs/$spare" &&
	path_is_missing state/logs/from-draft &&
	open_gate hold &&
	wait_job_in complete from-draft &&
	echo from-draft >expect &&
	test_cmp expect mnt/complete/from-draft
'

test_expect_success 'spares do not outlive a restart; logs do' '
	echo true >mnt/pending/one-more &&
	wait_job_in complete one-more &&
	test "$(spares)" -ge 1 &&
	filed_stop &&
	filed_start &&
	test "$(spares)" = 0 &&
	echo hello >expect &&
	test_cmp expect mnt/complete/loud &&
	test ! -s mnt/complete/quiet
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
