#!/bin/sh

test_description='user.filed.not_before: a job that waits until a time

A draft gets user.filed.not_before (+SECONDS or RFC 3339) and is queued by
mv: it waits in pending/ until then, shows its time in getfattr, starts
no earlier, and waits across a restart; a time that passed while filed was
stopped lets it run at the start; a time already past lets it run at once;
a failed job run again waits again for a time still ahead.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if ! command -v setfattr >/dev/null 2>&1
then
	skip_all="setfattr is needed"
	test_done
fi

# epoch RFC3339: the time in seconds since the epoch.
epoch() {
	date -u -d "$1" +%s
}

# not_before_of DIR/NAME: user.filed.not_before in seconds since the epoch.
not_before_of() {
	epoch "$(xattr "mnt/$1" not_before)"
}

# started_ok DIR/NAME: the job's last attempt started at its not_before or
# later (both to the second).
started_ok() {
	so__s=$(epoch "$(xattr "mnt/$1" started)") &&
	so__n=$(not_before_of "$1") &&
	if test "$so__s" -lt "$so__n"
	then
		echo "$1 started at $so__s, before its not_before $so__n" >&2
		return 1
	fi
}

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success '+SECONDS: the job waits in pending/, then runs' '
	{ cat mnt/events >events.out & } &&
	evpid=$! &&
	echo "echo late" >mnt/pending/.late &&
	before=$(date +%s) &&
	setfattr -n user.filed.not_before -v +3 mnt/pending/.late &&
	nb=$(not_before_of pending/.late) &&
	test "$nb" -ge "$((before + 3))" &&
	test "$nb" -le "$(($(date +%s) + 3))" &&
	mv mnt/pending/.late mnt/pending/late &&
	echo true >mnt/pending/now &&
	wait_job_in complete now &&
	test -e mnt/pending/late &&
	test "$(xattr mnt/pending/late state)" = pending &&
	test "$(xattr mnt/pending/late retry_at)" = "$(xattr mnt/pending/late not_before)" &&
	wait_job_in complete late 10 &&
	started_ok complete/late &&
	test "$(cat mnt/complete/late)" = late &&
	wait_for 5 "grep -q \" late complete\" events.out" &&
	kill $evpid &&
	grep " late " events.out | cut -d" " -f3 >states &&
	printf "%s\n" pending active complete >expect &&
	test_cmp expect states &&
	active=$(epoch "$(grep " late active" events.out | cut -d" " -f1)") &&
	test "$active" -ge "$nb"
'

test_expect_success 'RFC 3339: shown back in UTC' '
	echo true >mnt/pending/.xmas &&
	setfattr -n user.filed.not_before -v 2026-12-24T19:00:00+01:00 mnt/pending/.xmas &&
	test "$(xattr mnt/pending/.xmas not_before)" = 2026-12-24T18:00:00Z &&
	setfattr -n user.filed.not_before -v 2036-01-02T03:04:05.5Z mnt/pending/.xmas &&
	test "$(xattr mnt/pending/.xmas not_before)" = 2036-01-02T03:04:05Z
'

test_expect_success 'a time already past: the job runs at once' '
	echo "echo past" >mnt/pending/.past &&
	setfattr -n user.filed.not_before -v 2001-01-01T00:00:00Z mnt/pending/.past &&
	mv mnt/pending/.past mnt/pending/past &&
	wait_job_in complete past 5
'

test_expect_success 'the wait survives a restart, and the job runs after it' '
	echo "echo restarted" >mnt/pending/.r &&
	setfattr -n user.filed.not_before -v +4 mnt/pending/.r &&
	mv mnt/pending/.r mnt/pending/r &&
	filed_stop &&
	filed_start &&
	test "$(xattr mnt/pending/r state)" = pending &&
	test -n "$(xattr mnt/pending/r not_before)" &&
	test "$(date +%s)" -le "$(not_before_of pending/r)" &&
	wait_job_in complete r 15 &&
	started_ok complete/r
'

test_expect_success 'a time that passed while filed was stopped: runs at the start' '
	echo "echo missed" >mnt/pending/.m &&
	setfattr -n user.filed.not_before -v +2 mnt/pending/.m &&
	mv mnt/pending/.m mnt/pending/m &&
	nb=$(not_before_of pending/m) &&
	test "$(xattr mnt/pending/m state)" = pending &&
	filed_stop &&
	wait_for 10 "test \$(date +%s) -gt $nb" &&
	filed_start &&
	wait_job_in complete m 5 &&
	started_ok complete/m
'

test_expect_success 'a failed job run again waits again for a time still ahead' '
	echo "exit 1" >mnt/pending/f &&
	wait_job_in failed f &&
	setfattr -n user.filed.not_before -v +3 mnt/failed/f &&
	mv mnt/failed/f mnt/pending/ &&
	test "$(xattr mnt/pending/f state)" = pending &&
	test "$(xattr mnt/pending/f attempts)" = 0 &&
	wait_job_in failed f 10 &&
	started_ok failed/f
'

test_expect_success 'rm of a waiting job: gone, nothing runs' '
	echo "echo ran >\"$TRASH/ran\"" >mnt/pending/.gone &&
	setfattr -n user.filed.not_before -v +1 mnt/pending/.gone &&
	mv mnt/pending/.gone mnt/pending/gone &&
	rm mnt/pending/gone &&
	echo "echo x" >mnt/pending/.probe &&
	setfattr -n user.filed.not_before -v +2 mnt/pending/.probe &&
	mv mnt/pending/.probe mnt/pending/probe &&
	wait_job_in complete probe 10 &&
	path_is_missing ran
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
