#!/bin/sh

test_description='user.filed.priority: higher runs first, FIFO within one

Drafts get a priority with setfattr and are queued by mv. Behind a busy
slot (max_jobs 1) a high-priority job queued last runs first; jobs of one
priority run in the order they were queued; a retry keeps its priority;
the order survives a restart, where the interrupted job runs first, before
any priority.
Each job appends its name to the file "order".'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if ! command -v setfattr >/dev/null 2>&1
then
	skip_all="setfattr is needed"
	test_done
fi

# job NAME [PRIORITY [SCRIPT]]: queue job NAME, which appends NAME to
# "order" (or runs SCRIPT), from a draft with that priority.
job() {
	{
		test -z "$3" || printf "%s\n" "$3"
		printf "echo %s >>\"%s/order\"\n" "$1" "$TRASH"
	} >"mnt/pending/.$1" &&
	if test -n "$2"
	then
		setfattr -n user.filed.priority -v "$2" "mnt/pending/.$1"
	fi &&
	mv "mnt/pending/.$1" "mnt/pending/$1"
}

test_expect_success 'start filed: one job at a time' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'a high-priority job queued last runs first behind a busy slot' '
	gate g1 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	job low1 &&
	job low2 0 &&
	job later -5 &&
	job urgent 50 &&
	job urgent2 50 &&
	test "$(xattr mnt/pending/urgent priority)" = 50 &&
	test "$(errno_of getxattr mnt/pending/low1 user.filed.priority)" = ENODATA &&
	open_gate g1 &&
	wait_job_in complete later &&
	printf "%s\n" urgent urgent2 low1 low2 later >expect &&
	test_cmp expect order
'

# The slot is free once an attempt's process has exited; the record of its
# end may still be on its way, so the failed job shows in pending/ a moment
# after the next job shows in active/.
test_expect_success 'a retry keeps its job'"'"'s priority' '
	rm -f order &&
	gate g2 >mnt/pending/blocker2 &&
	wait_job_in active blocker2 &&
	job p0a "" "$(gate g3)" &&
	job p0b &&
	printf "test -e \"%s/flaky.ran\" || { : >\"%s/flaky.ran\"; exit 1; }\n" \
		"$TRASH" "$TRASH" >mnt/pending/.flaky &&
	printf "echo flaky >>\"%s/order\"\n" "$TRASH" >>mnt/pending/.flaky &&
	setfattr -n user.filed.priority -v 10 mnt/pending/.flaky &&
	setfattr -n user.filed.max_retries -v 1 mnt/pending/.flaky &&
	setfattr -n user.filed.backoff_base -v 1 mnt/pending/.flaky &&
	setfattr -n user.filed.backoff_mult -v 1 mnt/pending/.flaky &&
	mv mnt/pending/.flaky mnt/pending/flaky &&
	open_gate g2 &&
	wait_job_in active p0a &&
	wait_job_in pending flaky &&
	test "$(xattr mnt/pending/flaky attempts)" = 1 &&
	wait_for 10 "test \"\$(errno_of getxattr mnt/pending/flaky user.filed.retry_at)\" = ENODATA" &&
	open_gate g3 &&
	wait_job_in complete p0b &&
	printf "%s\n" p0a flaky p0b >expect &&
	test_cmp expect order &&
	test "$(xattr mnt/complete/flaky attempts)" = 2
'

test_expect_success 'the order survives a restart; the interrupted job runs first' '
	rm -f order &&
	job blocker3 "" "$(gate g4)" &&
	wait_job_in active blocker3 &&
	job low3 &&
	job mid3 5 &&
	job high3 99 &&
	filed_stop &&
	filed_start &&
	wait_job_in active blocker3 &&
	test "$(xattr mnt/pending/high3 priority)" = 99 &&
	open_gate g4 &&
	wait_job_in complete low3 &&
	printf "%s\n" blocker3 high3 mid3 low3 >expect &&
	test_cmp expect order
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
