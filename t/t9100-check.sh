#!/bin/sh

test_description='filed --check: a read-only look at a state directory

--check replays the journal without the lock and without mounting, so it
works beside a running filed; it reports jobs per state, the journal and
the output files, exits 0 when the state is sound and 1 on damage (with
file:line: offset, as the daemon says it), and never changes a byte.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# snapshot FILE: every file of state/ with its size, mtime and checksum.
snapshot() {
	(cd state && find . -type f | LC_ALL=C sort | while read -r f
	do
		echo "$f $(stat -c "%s %Y %a" "$f") $(sha256sum <"$f")"
	done) >"$1"
}

# check [ARGS]: filed --check -s state ARGS, its output in check.out and
# its status in check_rc.
check() {
	"$FILED_BIN" --check -s state "$@" >check.out 2>check.err
	check_rc=$?
	cat check.out check.err
}

test_expect_success 'setup: one job of each state' '
	filed_ini max_jobs=1 max_retries=0 &&
	filed_start &&
	echo "echo hello" >mnt/pending/a &&
	wait_job_in complete a &&
	echo "echo no; exit 3" >mnt/pending/b &&
	wait_job_in failed b &&
	gate g1 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	echo true >mnt/pending/c &&
	echo true >mnt/pending/.d &&
	wait_for 10 "test \"\$(xattr mnt/pending/c state)\" = pending"
'

test_expect_success 'beside the running filed: sound, the jobs per state' '
	check &&
	test "$check_rc" = 0 &&
	grep "^jobs: 1 pending, 1 active, 1 failed, 1 complete, 1 drafts, 0 being written$" check.out &&
	grep "^journal: .*/journal: [0-9]* bytes, [0-9]* records, format version 3$" check.out &&
	grep "^settings: .*filed.ini: valid$" check.out &&
	tail -n 1 check.out | grep -x sound
'

test_expect_success 'beside a filed taking jobs as fast as it can: sound each time' '
	(
		i=0
		while test $i -lt 400
		do
			echo true >mnt/pending/w$i || exit 1
			i=$((i + 1))
		done
	) &
	writer=$! &&
	n=0 &&
	while test $n -lt 10
	do
		"$FILED_BIN" --check -s state >busy.out || { cat busy.out; return 1; }
		n=$((n + 1))
	done &&
	wait $writer &&
	tail -n 1 busy.out | grep -x sound
'

test_expect_success 'it changes no byte, and takes no lock (filed stopped)' '
	open_gate g1 &&
	wait_job_in complete c &&
	filed_stop &&
	snapshot before &&
	check &&
	test "$check_rc" = 0 &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'a torn last record: reported, exit 0, the journal not cut' '
	printf "99999 new id=" >>state/journal &&
	snapshot before &&
	check &&
	test "$check_rc" = 0 &&
	grep "^journal: a partial last record (13 bytes at offset [0-9]*: " check.out &&
	snapshot after &&
	test_cmp before after &&
	filed_start &&
	filed_log | grep "cut torn tail" &&
	filed_stop &&
	check &&
	! grep "partial last record" check.out
'

test_expect_success 'damage before the end: exit 1, file:line: offset as the daemon says' '
	cp state/journal journal.good &&
	line=$(( $(wc -l <state/journal) / 2 )) &&
	sed -i "${line}s/^[0-9]*/x/" state/journal &&
	snapshot before &&
	check &&
	test "$check_rc" = 1 &&
	grep "^journal: .*/journal:$line: offset [0-9]*: .*valid records follow" check.out &&
	tail -n 1 check.out | grep -x damaged &&
	snapshot after &&
	test_cmp before after &&
	test_must_fail filed_start &&
	cause=$(sed -n "s/^journal: //p" check.out) &&
	grep -F "$cause" filed.log &&
	cp journal.good state/journal
'

test_expect_success 'an output file shorter than the journal says: exit 1' '
	id=$(cd state/output && grep -l "^hello\$" -- *) &&
	test -n "$id" &&
	cp "state/output/$id" out.good &&
	: >"state/output/$id" &&
	check &&
	test "$check_rc" = 1 &&
	grep "^output: .*/output/$id (job a): 0 bytes, the journal says [0-9]*$" check.out &&
	cp out.good "state/output/$id" &&
	check &&
	test "$check_rc" = 0
'

test_expect_success 'an output file of no job: reported, exit 0' '
	echo stray >state/output/987654 &&
	check &&
	test "$check_rc" = 0 &&
	grep " 1 of no job " check.out &&
	rm state/output/987654
'

test_expect_success 'a bad filed.ini: exit 1 with file:line' '
	cp state/filed.ini ini.good &&
	echo "max_jobs = many" >>state/filed.ini &&
	check &&
	test "$check_rc" = 1 &&
	grep "^settings: .*filed.ini:[0-9]*: " check.out &&
	cp ini.good state/filed.ini
'

test_expect_success 'an empty state directory: sound, and nothing is created' '
	mkdir empty &&
	"$FILED_BIN" --check -s empty >empty.out &&
	cat empty.out &&
	grep "none yet" empty.out &&
	test -z "$(ls -A empty)"
'

test_expect_success 'a missing state directory, or a bad option: exit 1' '
	test_expect_code 1 "$FILED_BIN" --check -s nowhere >nowhere.out &&
	grep "damaged" nowhere.out &&
	test_expect_code 1 "$FILED_BIN" --check -x 2>usage.err &&
	grep "usage: filed --check" usage.err
'

test_expect_success 'the state is still sound, and filed starts on it' '
	check &&
	test "$check_rc" = 0 &&
	filed_start &&
	test -f mnt/complete/a &&
	filed_stop
'

test_done
