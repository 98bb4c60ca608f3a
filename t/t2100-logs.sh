#!/bin/sh

test_description='log files: spares, stray writers, restart

An attempt that writes nothing gives its new log file back as a spare
(STATEDIR/output/.spare-N) for the next job; a job that writes keeps the
file as STATEDIR/output/ID. A file that another process still holds open
is never given back, so a stray process of one job cannot write into
another job'"'"'s log. Spares do not outlive a restart.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

spares() {
	ls -A state/output | grep -c '^\.spare-' || :
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
	path_is_missing "$(log_of complete/quiet)" &&
	test "$(spares)" = 1
'

test_expect_success 'the next job that writes has a log of its own' '
	echo "echo hello" >mnt/pending/loud &&
	wait_job_in complete loud &&
	echo hello >expect &&
	test_cmp expect mnt/complete/loud &&
	test_cmp expect "$(log_of complete/loud)" &&
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
	log=$(log_of complete/stray) &&
	test -e "$log" &&
	echo true >mnt/pending/after-stray &&
	wait_job_in complete after-stray &&
	echo "echo mine" >mnt/pending/mine &&
	wait_job_in complete mine &&
	open_gate stray &&
	wait_for 10 "grep -q STRAY $log" &&
	echo "$log" >expect &&
	grep -rl STRAY state/output >actual &&
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
	test -e "$(log_of complete/reader)" &&
	test ! -s mnt/complete/reader
'

test_expect_success 'a draft named like a spare does not take its file' '
	printf "{\"max_jobs\": 2}" >mnt/config.json &&
	{ gate hold; } >mnt/pending/hold &&
	wait_job_in active hold &&
	echo true >mnt/pending/make-spare &&
	wait_job_in complete make-spare &&
	printf "{\"max_jobs\": 1}" >mnt/config.json &&
	spare=$(ls -A state/output | grep "^\.spare-" | head -n 1) &&
	test -n "$spare" &&
	echo "echo from-draft" >"mnt/pending/$spare" &&
	mv "mnt/pending/$spare" mnt/pending/from-draft &&
	test -e "state/output/$spare" &&
	open_gate hold &&
	wait_job_in complete from-draft &&
	echo from-draft >expect &&
	test_cmp expect mnt/complete/from-draft
'

command -v strace >/dev/null 2>&1 && test_set_prereq STRACE

# A job removed while it runs is killed at once, but filed learns that its
# process is gone only when it reaps it. The job's main process is traced
# by a stopped strace here, which holds that moment back (a traced child is
# reported to its parent only once the tracer has seen it) until the job
# that takes the name has started and written.
test_expect_success STRACE 'rm of a running job, then a job of the same name: the new log is intact' '
	printf "{\"max_jobs\": 2}" >mnt/config.json &&
	{ gate old; } >mnt/pending/same &&
	wait_job_in active same &&
	pid=$(xattr mnt/active/same pid) &&
	{ strace -qq -o /dev/null -p "$pid" & tracer=$!; } &&
	wait_for 10 "grep -q \"^TracerPid:[[:space:]]*$tracer\$\" /proc/$pid/status" &&
	kill -STOP $tracer &&
	rm mnt/active/same &&
	{ echo "echo new"; gate new; } >mnt/pending/same &&
	wait_for 10 "grep -q new mnt/active/same" &&
	kill -CONT $tracer &&
	wait $tracer ;
	wait_for 10 "! pid_alive $pid" &&
	open_gate new &&
	wait_job_in complete same &&
	echo new >expect &&
	test_cmp expect mnt/complete/same &&
	test_cmp expect "$(log_of complete/same)" &&
	printf "{\"max_jobs\": 1}" >mnt/config.json
'

test_expect_success 'renaming a job never renames its output file' '
	{ echo "echo out"; gate rename; } >mnt/pending/before &&
	wait_for 10 "grep -q out mnt/active/before 2>/dev/null" &&
	ls -i state/output >expect &&
	mv mnt/active/before mnt/failed/after &&
	ls -i state/output >actual &&
	test_cmp expect actual &&
	mv mnt/failed/after mnt/pending/again &&
	open_gate rename &&
	wait_job_in complete again &&
	echo out >expect &&
	test_cmp expect mnt/complete/again &&
	filed_kill9 &&
	filed_start &&
	test_cmp expect mnt/complete/again
'

test_expect_success 'the logs of an older state directory (logs/NAME) are moved to their ids' '
	for f in mnt/complete/* mnt/failed/*
	do
		echo "$(xattr "$f" id) ${f##*/}" || return 1
	done >ids &&
	filed_stop &&
	mkdir state/logs &&
	: >state/logs/.spare-7 &&
	echo lost >state/logs/orphan &&
	while read -r id name
	do
		if test -e "state/output/$id"
		then
			mv "state/output/$id" "state/logs/$name" || return 1
		fi
	done <ids &&
	filed_start &&
	path_is_missing state/logs &&
	echo hello >expect &&
	test_cmp expect mnt/complete/loud &&
	test_cmp expect "$(log_of complete/loud)" &&
	echo out >expect &&
	test_cmp expect mnt/complete/again &&
	filed_log | grep "moving the logs of" &&
	! grep -r lost state/output
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
