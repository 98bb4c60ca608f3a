#!/bin/sh

test_description='complete/ and failed/: logs, markers, reruns and rm

complete/NAME reads the successful attempt only; failed/NAME reads every
attempt, each after a marker line written by filed; mv back to pending/
runs a job again with a fresh count; rm deletes the job and its log.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=2 backoff_base=0 backoff_mult=1 &&
	filed_start
'

test_expect_success 'complete/ lists jobs in the order they finished' '
	{ gate slow; } >mnt/pending/order-slow &&
	wait_job_in active order-slow &&
	echo true >mnt/pending/order-fast &&
	wait_job_in complete order-fast &&
	open_gate slow &&
	wait_job_in complete order-slow &&
	printf "order-fast\norder-slow\n" >expect &&
	ls -f mnt/complete | grep "^order-" >actual &&
	test_cmp expect actual &&
	rm mnt/complete/order-fast mnt/complete/order-slow
'

test_expect_success 'complete/NAME shows the output of the successful attempt only' '
	cat >mnt/pending/second-time <<-\EOF &&
	echo "attempt $FILED_ATTEMPT"
	test "$FILED_ATTEMPT" -ge 2
	EOF
	wait_job_in complete second-time &&
	echo "attempt 2" >expect &&
	test_cmp expect mnt/complete/second-time
'

test_expect_success 'stdout and stderr both go to the log, in order' '
	printf "echo out\necho err >&2\necho out2\n" >mnt/pending/both &&
	wait_job_in complete both &&
	printf "out\nerr\nout2\n" >expect &&
	test_cmp expect mnt/complete/both
'

test_expect_success 'failed/NAME shows every attempt after a marker line' '
	cat >mnt/pending/mixed <<-\EOF &&
	case $FILED_ATTEMPT in
	1) echo one; exit 3 ;;
	2) printf two; kill -TERM $$ ;;
	3) echo three; exit 1 ;;
	esac
	EOF
	wait_job_in failed mixed &&
	cat >expect <<-\EOF &&
	=== filed: attempt 1: exited with status 3 ===
	one
	=== filed: attempt 2: killed by signal 15 (SIGTERM) ===
	two
	=== filed: attempt 3: exited with status 1 ===
	three
	EOF
	test_cmp expect mnt/failed/mixed
'

test_expect_success 'the size of a failed job counts the marker lines' '
	test "$(stat -c %s mnt/failed/mixed)" = "$(wc -c <mnt/failed/mixed)"
'

test_expect_success 'a job killed by SIGKILL: the marker names the signal' '
	echo "echo x; kill -KILL \$\$" >mnt/pending/killed &&
	wait_job_in failed killed &&
	grep -x "=== filed: attempt 1: killed by signal 9 (SIGKILL) ===" mnt/failed/killed &&
	test $(grep -c "^=== filed: attempt" mnt/failed/killed) = 3
'

test_expect_success 'mv failed/NAME pending/ runs it again with a fresh count' '
	cat >mnt/pending/again <<-EOF &&
	echo "run \$FILED_ATTEMPT" >>"$TRASH/again.runs"
	echo "attempt \$FILED_ATTEMPT"
	exit 1
	EOF
	wait_job_in failed again &&
	test $(wc -l <again.runs) = 3 &&
	mv mnt/failed/again mnt/pending/ &&
	path_is_missing mnt/failed/again &&
	wait_for 10 "test \$(wc -l <again.runs) = 6" &&
	wait_job_in failed again &&
	printf "run 1\nrun 2\nrun 3\nrun 1\nrun 2\nrun 3\n" >expect &&
	test_cmp expect again.runs
'

test_expect_success 'a rerun failed job shows only the attempts of its new run' '
	cat >expect <<-\EOF &&
	=== filed: attempt 1: exited with status 1 ===
	attempt 1
	=== filed: attempt 2: exited with status 1 ===
	attempt 2
	=== filed: attempt 3: exited with status 1 ===
	attempt 3
	EOF
	test_cmp expect mnt/failed/again
'

test_expect_success 'mv failed/NAME pending/NEWNAME reruns under the new name' '
	mv mnt/failed/again mnt/pending/again2 &&
	path_is_missing mnt/failed/again &&
	wait_job_in failed again2 &&
	test $(wc -l <again.runs) = 9 &&
	grep -x "attempt 3" mnt/failed/again2
'

test_expect_success 'mv complete/NAME pending/ runs it again' '
	cat >mnt/pending/twice <<-EOF &&
	echo ran >>"$TRASH/twice.runs"
	echo "ran \$FILED_ATTEMPT"
	EOF
	wait_job_in complete twice &&
	mv mnt/complete/twice mnt/pending/ &&
	path_is_missing mnt/complete/twice &&
	wait_job_in complete twice &&
	printf "ran\nran\n" >expect &&
	test_cmp expect twice.runs &&
	echo "ran 1" >expect &&
	test_cmp expect mnt/complete/twice
'

test_expect_success 'a finished job cannot be moved to pending/ as a draft: EPERM' '
	test "$(errno_of rename mnt/complete/twice mnt/pending/.twice)" = EPERM &&
	test -f mnt/complete/twice
'

test_expect_success 'writing to a complete or failed job: EACCES' '
	test "$(errno_of open mnt/complete/twice O_WRONLY)" = EACCES &&
	test "$(errno_of open mnt/failed/mixed O_WRONLY)" = EACCES &&
	test "$(errno_of open mnt/failed/mixed "O_WRONLY|O_APPEND")" = EACCES &&
	test "$(errno_of truncate mnt/complete/twice 0)" = EACCES
'

test_expect_success 'rm complete/NAME deletes the job and its log' '
	log=$(log_of complete/twice) &&
	test -f "$log" &&
	rm mnt/complete/twice &&
	path_is_missing mnt/complete/twice &&
	path_is_missing "$log" &&
	! ls mnt/*/twice
'

test_expect_success 'rm failed/NAME deletes the job and its log' '
	log=$(log_of failed/mixed) &&
	test -f "$log" &&
	rm mnt/failed/mixed &&
	path_is_missing mnt/failed/mixed &&
	path_is_missing "$log"
'

test_expect_success 'a deleted name can be used again' '
	echo "echo reborn" >mnt/pending/mixed &&
	wait_job_in complete mixed &&
	echo reborn >expect &&
	test_cmp expect mnt/complete/mixed
'

test_expect_success 'find -mtime +7 -delete style cleanup works on complete/' '
	test -f mnt/complete/both &&
	find mnt/complete -type f -mmin -60 >found &&
	grep "complete/both" found &&
	find mnt/complete -type f -name both -delete &&
	path_is_missing mnt/complete/both
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
