#!/bin/sh

test_description='kill -9 at random moments loses no acknowledged job

Three writers create jobs as fast as they can; each records a job name only
after dd has closed the file without an error (close() returned 0, so the
job is durable). filed is killed with SIGKILL at a random moment, restarted,
and every recorded job must be there, exactly once; every job eventually
runs to complete/, and no job ever runs twice at the same time.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

ROUNDS=${FILED_CRASH_ROUNDS:-12}

# writer N: create jobs w<N>-<i> until told to stop; log the acked ones.
writer() {
	i=0
	while ! test -e "$TRASH/stop"
	do
		i=$((i + 1))
		name=r$round-w$1-$i
		if printf '%s\n' "flock -n \"$TRASH/locks/\$FILED_JOB\" sleep 0.02 || echo \"\$FILED_JOB\" >>\"$TRASH/double\"" |
			dd of="$TRASH/mnt/pending/$name" status=none 2>/dev/null
		then
			echo "$name" >>"$TRASH/acked.$1"
		fi
	done
}

test_expect_success 'setup' '
	mkdir locks &&
	filed_ini max_jobs=2 max_retries=100 backoff_base=0 &&
	: >double
'

test_expect_success "kill -9 in the middle of $ROUNDS bursts of writes" '
	round=0 &&
	while test $round -lt $ROUNDS
	do
		round=$((round + 1)) &&
		rm -f stop &&
		filed_start &&
		{ writer 1 & w1=$!; } &&
		{ writer 2 & w2=$!; } &&
		{ writer 3 & w3=$!; } &&
		# a random moment between 0 and 0.3 s
		sleep "0.$(( $(od -An -N2 -tu2 /dev/urandom) % 300 ))" &&
		filed_kill9 &&
		touch stop &&
		wait $w1 $w2 $w3 || return 1
	done &&
	cat acked.1 acked.2 acked.3 | sort >acked &&
	echo "$(wc -l <acked) jobs acknowledged" &&
	test -s acked
'

# find_job NAME: NAME is in one of the four directories. A job may move
# between two looks (it starts, ends, or its interrupted attempt is put
# back), so a miss is looked at again a few times before it counts.
find_job() {
	for try in 1 2 3 4 5 6 7 8 9 10
	do
		for d in pending active failed complete
		do
			test -e "mnt/$d/$1" && return 0
		done
	done
	return 1
}

test_expect_success 'after a restart every acknowledged job is there' '
	filed_start &&
	: >lost &&
	while read name
	do
		find_job "$name" || echo "$name" >>lost
	done <acked &&
	test_must_be_empty lost
'

# runnable: the jobs of pending/ that are not drafts, and active/.
runnable() {
	ls -A mnt/active &&
	for f in mnt/pending/*
	do
		test -e "$f" || continue
		test "$(xattr "$f" state)" = draft || echo "$f"
	done
}

test_expect_success 'every job runs to complete/, none twice at once' '
	wait_for 120 "test -z \"\$(runnable)\"" &&
	ls mnt/failed >failed &&
	test_must_be_empty failed &&
	test_must_be_empty double
'

# A job whose close returned 0 runs, unless filed died before the record
# that queues it (written once its creator let go of it, one disk sync
# later) was on disk: then it is kept as a draft with all its text, logged.
test_expect_success 'every acknowledged job is in complete/ once, or kept as a whole draft' '
	ls mnt/complete | sort >done &&
	comm -23 acked done >notrun &&
	while read name
	do
		test "$(xattr "mnt/pending/$name" state)" = draft &&
		grep "job .$name.: filed stopped while it was being written" filed.log &&
		printf "%s\n" "flock -n \"$TRASH/locks/\$FILED_JOB\" sleep 0.02 || echo \"\$FILED_JOB\" >>\"$TRASH/double\"" >expect &&
		test_cmp expect "mnt/pending/$name" || return 1
	done <notrun &&
	echo "$(wc -l <notrun) of $(wc -l <acked) acknowledged jobs were kept as drafts" &&
	uniq -d done >dups &&
	test_must_be_empty dups
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
