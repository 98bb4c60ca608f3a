#!/bin/sh

test_description='new-id: a fresh unique job name on every read

Every open and read of new-id gives a decimal number with a newline that was
never handed out before, is not the name of an existing job, and stays
unique across clean and unclean restarts.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'new-id reads as a decimal number and a newline' '
	cat mnt/new-id >id1 &&
	grep -x "[0-9][0-9]*" id1 &&
	test $(wc -l <id1) = 1 &&
	test "$(tail -c 1 id1 | od -An -c | tr -d " ")" = "\\n"
'

test_expect_success 'each read gives a fresh value' '
	a=$(cat mnt/new-id) &&
	b=$(cat mnt/new-id) &&
	test "$a" != "$b" &&
	test "$a" != "$(cat id1)"
'

test_expect_success 'a hundred reads give a hundred distinct values' '
	for i in $(test_seq 1 100)
	do
		cat mnt/new-id || return 1
	done >ids &&
	test $(sort -u ids | wc -l) = 100 &&
	test $(grep -cx "[0-9][0-9]*" ids) = 100
'

test_expect_success 'a new id is a usable job name' '
	id=$(cat mnt/new-id) &&
	echo "echo job \$FILED_JOB" >"mnt/pending/$id" &&
	wait_job_in complete "$id" &&
	echo "job $id" >expect &&
	test_cmp expect "mnt/complete/$id"
'

test_expect_success 'new-id never hands out the name of an existing job' '
	n=$(cat mnt/new-id) &&
	for i in 1 2 3 4 5 6 7 8 9 10
	do
		echo true >"mnt/pending/$((n + i))" || return 1
	done &&
	for i in $(test_seq 1 30)
	do
		cat mnt/new-id || return 1
	done >more &&
	for i in 1 2 3 4 5 6 7 8 9 10
	do
		! grep -x "$((n + i))" more || return 1
	done
'

test_expect_success 'ids stay unique across a clean restart' '
	cat id1 ids more >seen &&
	filed_stop &&
	filed_start &&
	for i in $(test_seq 1 20)
	do
		cat mnt/new-id || return 1
	done >after &&
	test $(sort -u after | wc -l) = 20 &&
	! grep -xFf seen after
'

test_expect_success 'ids stay unique across kill -9 and restart' '
	cat after >>seen &&
	for i in $(test_seq 1 20)
	do
		cat mnt/new-id || return 1
	done >before-kill &&
	cat before-kill >>seen &&
	filed_kill9 &&
	filed_start &&
	for i in $(test_seq 1 20)
	do
		cat mnt/new-id || return 1
	done >after-kill &&
	! grep -xFf seen after-kill
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
