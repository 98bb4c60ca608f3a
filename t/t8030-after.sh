#!/bin/sh

test_description='user.filed.after: a job that runs after others complete

A draft gets user.filed.after, a list of job names, and is queued by mv.
It waits while a job it runs after runs, and starts once every one is in
complete/; if one ends in failed/ or is removed before it completes, the
job moves to failed/ without running, with reason dependency and a line
naming that job. Removing one that completed changes nothing. Names that
do not exist are ENOENT; drafts, the job itself and cycles are EINVAL.
Each job appends its name to the file "order".'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if ! command -v setfattr >/dev/null 2>&1
then
	skip_all="setfattr is needed"
	test_done
fi

# after_job NAME AFTER: queue job NAME, which appends NAME to "order", from
# a draft with user.filed.after AFTER.
after_job() {
	printf "echo %s >>\"%s/order\"\n" "$1" "$TRASH" >"mnt/pending/.$1" &&
	setfattr -n user.filed.after -v "$2" "mnt/pending/.$1" &&
	mv "mnt/pending/.$1" "mnt/pending/$1"
}

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'names that are no job: ENOENT; a draft, itself, empty: EINVAL' '
	echo true >mnt/pending/.d &&
	echo true >mnt/pending/.other &&
	cp state/journal journal.kept &&
	test "$(errno_of setxattr mnt/pending/.d user.filed.after nosuch)" = ENOENT &&
	test "$(errno_of setxattr mnt/pending/.d user.filed.after .other)" = EINVAL &&
	test "$(errno_of setxattr mnt/pending/.d user.filed.after .d)" = EINVAL &&
	test "$(errno_of setxattr mnt/pending/.d user.filed.after "")" = EINVAL &&
	test "$(errno_of setxattr mnt/pending/.d user.filed.after ",")" = EINVAL &&
	cmp state/journal journal.kept &&
	filed_log | grep "job '"'"'.d'"'"': setfattr user.filed.after refused: after: no job '"'"'nosuch'"'"'" &&
	rm mnt/pending/.d mnt/pending/.other
'

test_expect_success 'a dependent job waits while its job runs, and starts after it completes' '
	gate g1 >mnt/pending/first &&
	printf "%s\necho second >>\"%s/order\"\n" "$(gate g2)" "$TRASH" >mnt/pending/second &&
	wait_job_in active first &&
	wait_job_in active second &&
	after_job third first,second &&
	test "$(xattr mnt/pending/third after)" = first,second &&
	echo "echo fourth >>\"$TRASH/order\"" >mnt/pending/fourth &&
	open_gate g2 &&
	wait_job_in complete second &&
	wait_job_in complete fourth &&
	test "$(xattr mnt/pending/third state)" = pending &&
	test "$(xattr mnt/pending/third attempts)" = 0 &&
	open_gate g1 &&
	wait_job_in complete third &&
	printf "%s\n" second fourth third >expect &&
	test_cmp expect order
'

test_expect_success 'a dependent job fails when its job fails, naming it' '
	{ cat mnt/events >events.out & } &&
	evpid=$! &&
	printf "%s\nexit 3\n" "$(gate g3)" >mnt/pending/bad &&
	wait_job_in active bad &&
	after_job child bad &&
	open_gate g3 &&
	wait_job_in failed bad &&
	wait_job_in failed child &&
	test "$(xattr mnt/failed/child reason)" = dependency &&
	test "$(xattr mnt/failed/child attempts)" = 0 &&
	grep "^=== filed: not run: job '"'"'bad'"'"', which it runs after, did not complete ===$" mnt/failed/child &&
	! grep child order &&
	wait_for 5 "grep -q \" child failed\" events.out" &&
	kill $evpid &&
	grep " child failed reason=dependency$" events.out &&
	test "$(cat mnt/wait/child)" = failed
'

test_expect_success 'queued after a job already failed: fails at once' '
	after_job late2 bad &&
	wait_job_in failed late2 &&
	test "$(xattr mnt/failed/late2 reason)" = dependency
'

test_expect_success 'and when its job is removed before it completes' '
	gate g4 >mnt/pending/doomed &&
	wait_job_in active doomed &&
	after_job orphan doomed &&
	rm mnt/active/doomed &&
	wait_job_in failed orphan &&
	test "$(xattr mnt/failed/orphan reason)" = dependency &&
	grep "job '"'"'doomed'"'"'" mnt/failed/orphan
'

test_expect_success 'removing a job that completed changes nothing' '
	echo "echo done1 >>\"$TRASH/order\"" >mnt/pending/done1 &&
	wait_job_in complete done1 &&
	gate g5 >mnt/pending/slow &&
	wait_job_in active slow &&
	printf "echo late >>\"%s/order\"\n" "$TRASH" >mnt/pending/.late &&
	setfattr -n user.filed.after -v done1,slow mnt/pending/.late &&
	rm mnt/complete/done1 &&
	test "$(xattr mnt/pending/.late after)" = slow &&
	mv mnt/pending/.late mnt/pending/late &&
	test "$(xattr mnt/pending/late state)" = pending &&
	open_gate g5 &&
	wait_job_in complete late
'

test_expect_success 'and removing one that completed while the job waits changes nothing' '
	echo "echo done2 >>\"$TRASH/order\"" >mnt/pending/done2 &&
	wait_job_in complete done2 &&
	gate g7 >mnt/pending/slow2 &&
	wait_job_in active slow2 &&
	after_job late3 done2,slow2 &&
	rm mnt/complete/done2 &&
	test "$(xattr mnt/pending/late3 after)" = slow2 &&
	test "$(xattr mnt/pending/late3 state)" = pending &&
	open_gate g7 &&
	wait_job_in complete late3
'

test_expect_success 'a cycle through failed jobs is refused' '
	echo "exit 1" >mnt/pending/x1 &&
	echo "exit 1" >mnt/pending/x2 &&
	wait_job_in failed x1 &&
	wait_job_in failed x2 &&
	setfattr -n user.filed.after -v x2 mnt/failed/x1 &&
	test "$(errno_of setxattr mnt/failed/x2 user.filed.after x1)" = EINVAL &&
	filed_log | grep "setfattr user.filed.after refused: after: '"'"'x1'"'"' runs after this job (a cycle)"
'

test_expect_success 'a held job stays held across a restart, then runs' '
	rm -f order &&
	gate g6 >mnt/pending/base &&
	wait_job_in active base &&
	after_job held base &&
	filed_stop &&
	filed_start &&
	wait_job_in active base &&
	test "$(xattr mnt/pending/held after)" = base &&
	test "$(xattr mnt/pending/held attempts)" = 0 &&
	open_gate g6 &&
	wait_job_in complete held &&
	echo held >expect &&
	test_cmp expect order
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
