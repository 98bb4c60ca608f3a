#!/bin/sh

test_description='the journal: readable text, torn tails cut, damage refused

STATEDIR/journal is line-oriented text with a header; a torn tail (crash
mid-append) is cut off with a log line; damage followed by valid records
makes filed refuse to start, naming file, line and offset, and it leaves the
file as it was.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# snapshot FILE: the jobs a user sees, names and contents.
snapshot() {
	for d in pending active failed complete
	do
		for f in $(ls -A mnt/$d)
		do
			echo "== $d/$f" &&
			cat mnt/$d/$f || return 1
		done
	done >"$1"
}

test_expect_success 'start filed and make some jobs' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start &&
	echo "echo hello world" >mnt/pending/spaced &&
	echo "echo fail; exit 2" >mnt/pending/broken &&
	printf "echo tab\there\necho two\n" >mnt/pending/.draft &&
	for i in 1 2 3 4 5
	do
		echo "echo $i" >mnt/pending/job$i || return 1
	done &&
	wait_job_in complete job5 &&
	wait_job_in failed broken &&
	rm mnt/complete/job1 &&
	snapshot before
'

test_expect_success 'the journal starts with its header line' '
	head -n 1 state/journal >actual &&
	echo "filed-journal 3" >expect &&
	test_cmp expect actual
'

test_expect_success 'every record is one line: SEQ TYPE KEY=VALUE... CRC' '
	sed 1d state/journal >records &&
	test -s records &&
	! grep -Ev "^[0-9]+ [a-z]+( [a-z_]+=[^ ]*)* [0-9a-f]{8}\$" records
'

test_expect_success 'sequence numbers start at 1 and are contiguous' '
	awk "\$1 != NR { print \"line \" NR + 1 \": seq \" \$1; bad = 1 } END { exit bad }" records
'

test_expect_success 'grep finds a job by its name' '
	grep " new .*name=spaced " state/journal &&
	grep " rm " state/journal
'

test_expect_success 'job text is escaped into the record' '
	grep -F "text=echo\\shello\\sworld\\n" state/journal &&
	grep -F "text=echo\\stab\\there\\necho\\stwo\\n" state/journal
'

test_expect_success 'starts, ends and state changes are recorded' '
	grep " start " state/journal &&
	grep " end .*how=exit" state/journal &&
	grep " end .*next=complete" state/journal &&
	grep " end .*next=failed" state/journal
'

test_expect_success 'the journal replays to the same jobs after a restart' '
	filed_stop &&
	filed_start &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'a torn tail without a newline is cut off and logged' '
	filed_stop &&
	size=$(wc -c <state/journal) &&
	printf "999 rm id=1 time=1 deadbeef" >>state/journal &&
	filed_start &&
	filed_log | grep "torn tail" &&
	filed_log | grep "journal: cut torn tail at offset $size (27 bytes" &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'records appended after a cut tail are sound' '
	echo "echo after the cut" >mnt/pending/aftercut &&
	wait_job_in complete aftercut &&
	! grep deadbeef state/journal &&
	sed 1d state/journal >records &&
	! grep -Ev "^[0-9]+ [a-z]+( [a-z_]+=[^ ]*)* [0-9a-f]{8}\$" records &&
	awk "\$1 != NR { bad = 1 } END { exit bad }" records &&
	snapshot before
'

test_expect_success 'a last record with a bad checksum is a torn tail: not applied' '
	id=$(xattr mnt/complete/spaced id) &&
	filed_stop &&
	next=$(( $(sed 1d state/journal | wc -l) + 1 )) &&
	size=$(wc -c <state/journal) &&
	echo "$next rm id=$id time=1 00000000" >>state/journal &&
	filed_start &&
	filed_log | grep "journal: cut torn tail at offset $size" &&
	test -f mnt/complete/spaced &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'a rsync -a style copy of the live state dir starts' '
	cp -a state state-copy &&
	filed_stop &&
	filed_start_raw -s "$TRASH/state-copy" "$TRASH/mnt" &&
	snapshot copy &&
	test_cmp before copy &&
	filed_stop
'

test_expect_success 'damage followed by valid records: refused, file/line/offset' '
	cp state/journal journal.good &&
	test $(wc -l <state/journal) -gt 5 &&
	off=$(head -n 2 state/journal | wc -c) &&
	awk "NR == 3 { c = substr(\$0, length(\$0)); r = (c == \"0\") ? \"1\" : \"0\";
		\$0 = substr(\$0, 1, length(\$0) - 1) r } { print }" journal.good >state/journal &&
	! cmp journal.good state/journal &&
	cp state/journal journal.bad &&
	mkdir -p mnt &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt" &&
	grep -F "journal:3: offset $off:" err &&
	! mountpoint -q mnt
'

test_expect_success 'filed never guesses: the damaged journal is left as it was' '
	test_cmp journal.bad state/journal
'

test_expect_success 'a damaged middle line (not a CRC) is refused as well' '
	awk "NR == 4 { \$0 = \"garbage\" } { print }" journal.good >state/journal &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt" &&
	grep -F "journal:4:" err
'

test_expect_success 'an unknown journal version is refused' '
	{ echo "filed-journal 4" && sed 1d journal.good; } >state/journal &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt" &&
	grep "journal" err &&
	! mountpoint -q mnt
'

test_expect_success 'a journal of version 1 starts, and is upgraded to version 3' '
	{ echo "filed-journal 1" && sed 1d journal.good; } >state/journal &&
	filed_start &&
	snapshot upgraded &&
	test_cmp before upgraded &&
	head -n 1 state/journal >actual &&
	echo "filed-journal 3" >expect &&
	test_cmp expect actual &&
	filed_log | grep "format version 1 upgraded to 3" &&
	filed_stop
'

test_expect_success 'a journal of version 2 starts, and is upgraded to version 3' '
	{ echo "filed-journal 2" && sed 1d journal.good; } >state/journal &&
	filed_start &&
	snapshot upgraded &&
	test_cmp before upgraded &&
	head -n 1 state/journal >actual &&
	echo "filed-journal 3" >expect &&
	test_cmp expect actual &&
	filed_log | grep "format version 2 upgraded to 3" &&
	filed_stop
'

test_expect_success 'with the journal repaired, filed starts with every job' '
	cp journal.good state/journal &&
	filed_start &&
	snapshot after &&
	test_cmp before after
'

test_expect_success 'the journal tracks the live jobs, not the history' '
	printf "#%059999d\n" 0 >big-draft &&
	for i in $(test_seq 1 200)
	do
		cp big-draft mnt/pending/.big$i &&
		rm mnt/pending/.big$i || return 1
	done &&
	size=$(wc -c <state/journal) &&
	echo "journal is $size bytes after 12 MB of history" &&
	test "$size" -lt 6000000 &&
	path_is_missing state/journal.new
'

test_expect_success 'after compaction the jobs are all there across a restart' '
	snapshot mid &&
	test_cmp before mid &&
	filed_stop &&
	filed_start &&
	snapshot after &&
	test_cmp before after &&
	head -n 1 state/journal >actual &&
	echo "filed-journal 3" >expect &&
	test_cmp expect actual
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
