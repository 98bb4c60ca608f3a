#!/bin/sh

test_description='compaction by a forked child, seen through the mount

The journal is compacted from a snapshot that a child of filed writes while
filed goes on answering: jobs created, removed, run again and chmod-ed by two
clients while compactions run are all there, as they were, after kill -9
and a restart; the child is reaped.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# listing FILE: every job a user sees: directory, name, mode, contents.
jobs_seen() {
	for d in pending active failed complete
	do
		for f in $(ls -A mnt/$d)
		do
			echo "== $d/$f $(stat -c %a mnt/$d/$f)" &&
			cat mnt/$d/$f || return 1
		done
	done >"$1"
}

# compactions: the stats file's count of compactions done.
compactions() {
	awk '$1 == "filed_journal_compactions_total" { print $2 }' mnt/stats
}

test_expect_success 'start filed with 200 finished jobs' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start &&
	for i in $(test_seq 1 200)
	do
		echo "echo job $i" >mnt/pending/j$i || return 1
	done &&
	wait_for 60 "test \$(ls mnt/complete | wc -l) -eq 200" &&
	test "$(compactions)" = 0
'

test_expect_success 'two clients change jobs while compactions run' '
	printf "#%059999d\n" 0 >big-draft &&
	(
		for i in $(test_seq 1 150)
		do
			cp big-draft mnt/pending/.big$i &&
			rm mnt/pending/.big$i || exit 1
		done
	) &
	drafts=$! &&
	for i in $(test_seq 1 100)
	do
		case $((i % 4)) in
		0) rm mnt/complete/j$i ;;
		1) mv mnt/complete/j$i mnt/pending/again$i ;;
		2) chmod 0600 mnt/complete/j$i ;;
		3) echo "echo new $i" >mnt/pending/new$i ;;
		esac || return 1
		sleep 0.02
	done &&
	wait $drafts &&
	wait_for 30 "test \$(compactions) -ge 1" &&
	wait_for 30 "test \$(ls mnt/complete | wc -l) -eq 200" &&
	echo "$(compactions) compactions" &&
	path_is_missing state/journal.new &&
	test "$(wc -c <state/journal)" -lt 6000000
'

test_expect_success 'no snapshot child is left, not even a zombie' '
	wait_for 10 "test -z \"\$(ps -o pid= --ppid $filed_pid)\""
'

test_expect_success 'after kill -9 and a restart every change is there' '
	jobs_seen before &&
	grep -c "^== complete/again" before >n &&
	echo 25 >expect &&
	test_cmp expect n &&
	grep "^== complete/j2 400" before &&
	grep "^== complete/j3 440" before &&
	path_is_missing mnt/complete/j4 &&
	filed_kill9 &&
	filed_start &&
	jobs_seen after &&
	test_cmp before after
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
