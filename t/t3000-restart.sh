#!/bin/sh

test_description='restarts: clean stop, kill -9, jobs running at the time

Everything a user was told succeeded survives a clean stop and a kill -9;
a job that was running when filed died or stopped runs again after the
restart (at-least-once), and its old processes are killed first.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# snapshot FILE: what a user sees of the mount, as text.
snapshot() {
	{
		for d in pending active failed complete
		do
			for f in $(ls -A mnt/$d)
			do
				echo "== $d/$f $(stat -c "%a %u:%g" mnt/$d/$f)" &&
				cat mnt/$d/$f || return 1
			done
		done &&
		stat -c "%n %a %u:%g" mnt/pending mnt/failed &&
		jq -S . mnt/config.json
	} >"$1"
}

test_expect_success 'start filed and make one job of every kind' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start &&
	echo "echo done" >mnt/pending/done &&
	echo "echo broken; exit 3" >mnt/pending/broken &&
	wait_job_in complete done &&
	wait_job_in failed broken &&
	echo "{\"max_retries\": 5, \"backoff_base\": 1000}" >mnt/config.json &&
	echo "echo later; exit 1" >mnt/pending/later &&
	wait_for 10 "xattr mnt/pending/later retry_at >/dev/null 2>&1" &&
	echo "echo draft text" >mnt/pending/.draft &&
	chmod 0700 mnt/failed &&
	snapshot before
'

test_expect_success 'a clean stop and restart keep every job, log and setting' '
	filed_stop &&
	filed_start &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'a job waiting for a retry still waits after a restart' '
	test "$(xattr mnt/pending/later attempts)" = 1 &&
	xattr mnt/pending/later retry_at
'

test_expect_success 'kill -9 and restart keep every job, log and setting' '
	filed_kill9 &&
	filed_start &&
	snapshot after9 &&
	test_cmp before after9
'

test_expect_success 'a job is kept once close returned, even after kill -9' '
	echo "{\"max_retries\": 0, \"backoff_base\": 0}" >mnt/config.json &&
	gate hold9 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	oldpid=$(xattr mnt/active/blocker pid) &&
	echo "echo queued before the kill" >mnt/pending/queued &&
	filed_kill9 &&
	pid_alive "$oldpid" &&
	filed_start &&
	wait_for 10 "! pid_alive $oldpid" &&
	{ ls mnt/pending/queued mnt/active/queued mnt/complete/queued 2>/dev/null || :; } >found &&
	test $(wc -l <found) = 1
'

# filed was killed as soon as the close returned: before the record that
# queues the job (written once its creator let go) was on disk, the job is
# kept as a draft under its name, logged, and runs once it is queued again.
test_expect_success 'a job running when filed was killed runs again' '
	open_gate hold9 &&
	wait_job_in complete blocker &&
	if test -e mnt/pending/queued
	then
		test "$(xattr mnt/pending/queued state)" = draft &&
		filed_log | grep "job .queued.: filed stopped while it was being written" &&
		mv mnt/pending/queued mnt/pending/.queued &&
		mv mnt/pending/.queued mnt/pending/queued
	fi &&
	wait_job_in complete queued &&
	echo "queued before the kill" >expect &&
	test_cmp expect mnt/complete/queued
'

test_expect_success 'after kill -9 the old attempt is killed and the job rerun' '
	cat >mnt/pending/survivor <<-EOF &&
	echo "\$\$" >>"$TRASH/survivor.pids"
	if ! test -e "$TRASH/survivor.first"
	then
		: >"$TRASH/survivor.first"
		sleep 1000 &
		echo "\$!" >"$TRASH/survivor.kid"
		wait
	fi
	echo "finished"
	EOF
	wait_job_in active survivor &&
	wait_for 10 "test -s survivor.kid" &&
	old=$(head -n 1 survivor.pids) &&
	kid=$(cat survivor.kid) &&
	filed_kill9 &&
	pid_alive "$old" &&
	pid_alive "$kid" &&
	filed_start &&
	wait_job_in complete survivor &&
	wait_for 10 "! pid_alive $old && ! pid_alive $kid" &&
	test $(wc -l <survivor.pids) = 2 &&
	echo finished >expect &&
	test_cmp expect mnt/complete/survivor
'

test_expect_success 'SIGTERM while a job runs: interrupted, not counted, rerun' '
	cat >mnt/pending/stopped <<-EOF &&
	echo "run" >>"$TRASH/stopped.runs"
	if ! test -e "$TRASH/stopped.first"
	then
		: >"$TRASH/stopped.first"
		echo "\$\$" >"$TRASH/stopped.pid"
		exec sleep 1000
	fi
	echo "second run"
	EOF
	wait_job_in active stopped &&
	wait_for 10 "test -s stopped.pid" &&
	filed_stop &&
	! pid_alive $(cat stopped.pid) &&
	grep " end .*how=interrupted" state/journal &&
	filed_start &&
	wait_job_in complete stopped &&
	printf "run\nrun\n" >expect &&
	test_cmp expect stopped.runs &&
	echo "second run" >expect &&
	test_cmp expect mnt/complete/stopped
'

test_expect_success 'a second SIGTERM kills running jobs at once' '
	echo "{\"kill_grace\": 1000}" >mnt/config.json &&
	cat >mnt/pending/deaf <<-\EOF &&
	trap "echo got TERM" TERM
	echo started
	while :; do sleep 0.05; done
	EOF
	wait_job_in active deaf &&
	wait_for 10 "grep -q started mnt/active/deaf" &&
	kill -TERM "$filed_pid" &&
	log=$(log_of active/deaf) &&
	wait_for 10 "grep -q \"got TERM\" $log" &&
	pid_alive "$filed_pid" &&
	kill -TERM "$filed_pid" &&
	filed_wait_exit 10 &&
	test "$filed_status" = 0 &&
	! filed_mounted
'

test_expect_success 'the job stopped by the second SIGTERM is pending again' '
	filed_start &&
	echo "{\"kill_grace\": 0}" >mnt/config.json &&
	wait_for 10 "test -e mnt/active/deaf || test -e mnt/pending/deaf" &&
	rm mnt/active/deaf 2>/dev/null || rm mnt/pending/deaf
'

test_expect_success 'an interrupted job runs again before the jobs queued after it' '
	echo "{\"max_jobs\": 1, \"kill_grace\": 5}" >mnt/config.json &&
	{
		echo "echo first >>\"$TRASH/order\"" &&
		gate first
	} >mnt/pending/first &&
	wait_job_in active first &&
	echo "echo second >>\"$TRASH/order\"" >mnt/pending/second &&
	echo "echo third >>\"$TRASH/order\"" >mnt/pending/third &&
	filed_stop &&
	touch gate.first &&
	filed_start &&
	wait_job_in complete third &&
	printf "first\nfirst\nsecond\nthird\n" >expect &&
	test_cmp expect order
'

# Two interrupted jobs, A then B, ahead of C and D queued after them: after
# kill -9 (with one slot now, so that the order shows) they run first, in
# the order they had started, and nothing starts before they are recorded.
test_expect_success 'after kill -9, interrupted jobs run first, in their order' '
	rm -f order &&
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	for j in A B
	do
		{
			echo "echo $j >>\"$TRASH/order\"" &&
			gate $j
		} >mnt/pending/$j &&
		wait_job_in active $j || return 1
	done &&
	for j in C D
	do
		echo "echo $j >>\"$TRASH/order\"" >mnt/pending/.$j &&
		mv mnt/pending/.$j mnt/pending/$j || return 1
	done &&
	filed_kill9 &&
	filed_ini max_jobs=1 &&
	open_gate A &&
	open_gate B &&
	filed_start &&
	wait_job_in complete D &&
	printf "A\nB\nA\nB\nC\nD\n" >expect &&
	test_cmp expect order
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
