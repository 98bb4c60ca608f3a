#!/bin/sh

test_description='active/: live output, cancel by rm, cancel by mv to failed/

A running job shows the output of its attempt so far; rm kills its whole
process group and forgets it; mv to failed/ kills it and keeps its log.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed' '
	filed_ini max_jobs=4 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'cat active/NAME shows the output so far' '
	{
		echo "echo first line" &&
		gate live &&
		echo "echo second line"
	} >mnt/pending/live &&
	wait_job_in active live &&
	wait_for 10 "grep -q \"first line\" mnt/active/live" &&
	echo "first line" >expect &&
	test_cmp expect mnt/active/live
'

test_expect_success 'the size of an active job is what a read returns' '
	test "$(stat -c %s mnt/active/live)" = "$(wc -c <mnt/active/live)"
'

test_expect_success 'the output grows while the job runs, then it completes' '
	open_gate live &&
	wait_job_in complete live &&
	printf "first line\nsecond line\n" >expect &&
	test_cmp expect mnt/complete/live
'

test_expect_success 'tail -f follows a running job' '
	{
		echo "echo one" &&
		gate tail1 &&
		echo "echo two" &&
		gate tail2
	} >mnt/pending/tailed &&
	wait_job_in active tailed &&
	wait_for 10 "grep -q one mnt/active/tailed" &&
	{ tail -s 0.1 -f mnt/active/tailed >tailout 2>tailerr & tailpid=$!; } &&
	test_when_finished "kill $tailpid" &&
	wait_for 10 "grep -q one tailout" &&
	open_gate tail1 &&
	wait_for 10 "grep -q two tailout" &&
	printf "one\ntwo\n" >expect &&
	test_cmp expect tailout &&
	open_gate tail2 &&
	wait_job_in complete tailed
'

test_expect_success 'rm active/NAME kills the whole process group' '
	{
		echo "sleep 1000 &" &&
		echo "echo \$! >\"$TRASH/rm.child\"" &&
		echo "echo \$\$ >\"$TRASH/rm.main\"" &&
		echo "echo running" &&
		echo "wait"
	} >mnt/pending/victim &&
	wait_job_in active victim &&
	wait_for 10 "test -s rm.child && test -s rm.main" &&
	pid_alive $(cat rm.main) &&
	pid_alive $(cat rm.child) &&
	log_of active/victim >victim.log &&
	rm mnt/active/victim &&
	wait_for 10 "! pid_alive $(cat rm.main) && ! pid_alive $(cat rm.child)"
'

test_expect_success 'a job removed from active/ is forgotten with its log' '
	for d in pending active failed complete
	do
		path_is_missing mnt/$d/victim || return 1
	done &&
	path_is_missing "$(cat victim.log)"
'

test_expect_success 'mv active/NAME failed/ kills the job' '
	{
		echo "echo partial" &&
		echo "sleep 1000 &" &&
		echo "echo \$! >\"$TRASH/mv.child\"" &&
		echo "echo \$\$ >\"$TRASH/mv.main\"" &&
		echo "wait"
	} >mnt/pending/cancelled &&
	wait_job_in active cancelled &&
	wait_for 10 "test -s mv.child && test -s mv.main" &&
	mv mnt/active/cancelled mnt/failed/ &&
	wait_for 10 "! pid_alive $(cat mv.main) && ! pid_alive $(cat mv.child)"
'

test_expect_success 'a job cancelled into failed/ keeps its log, marked cancelled' '
	path_is_missing mnt/active/cancelled &&
	test -f mnt/failed/cancelled &&
	cat >expect <<-\EOF &&
	=== filed: attempt 1: cancelled ===
	partial
	EOF
	test_cmp expect mnt/failed/cancelled
'

test_expect_success 'mv active/NAME failed/NEWNAME cancels under the new name' '
	{
		echo "echo renamed" &&
		echo "exec sleep 1000"
	} >mnt/pending/torename &&
	wait_job_in active torename &&
	wait_for 10 "grep -q renamed mnt/active/torename" &&
	mv mnt/active/torename mnt/failed/newname &&
	path_is_missing mnt/active/torename &&
	path_is_missing mnt/failed/torename &&
	grep -x "=== filed: attempt 1: cancelled ===" mnt/failed/newname &&
	grep -x renamed mnt/failed/newname
'

test_expect_success 'writing to an active job: EACCES' '
	echo "exec sleep 1000" >mnt/pending/busy &&
	wait_job_in active busy &&
	test "$(errno_of open mnt/active/busy O_WRONLY)" = EACCES &&
	test "$(errno_of open mnt/active/busy "O_WRONLY|O_APPEND")" = EACCES &&
	test "$(errno_of truncate mnt/active/busy 0)" = EACCES
'

test_expect_success 'moving an active job anywhere but failed/: EPERM' '
	test "$(errno_of rename mnt/active/busy mnt/pending/busy)" = EPERM &&
	test "$(errno_of rename mnt/active/busy mnt/complete/busy)" = EPERM &&
	test "$(errno_of rename mnt/active/busy mnt/active/other)" = EPERM &&
	test -f mnt/active/busy
'

test_expect_success 'rm active/ of a job that ignores SIGTERM still kills it' '
	{
		echo "trap \"\" TERM" &&
		echo "echo \$\$ >\"$TRASH/stubborn.main\"" &&
		echo "exec sleep 1000"
	} >mnt/pending/stubborn &&
	wait_job_in active stubborn &&
	wait_for 10 "test -s stubborn.main" &&
	rm mnt/active/stubborn mnt/active/busy &&
	wait_for 10 "! pid_alive $(cat stubborn.main)" &&
	test -z "$(ls -A mnt/active)"
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
