#!/bin/sh

test_description='filed --status: the table of a mount'"'"'s jobs

One row per job, newest first (the last state change), with its state,
attempts, how its last attempt ended, when it started and how long it ran;
at most -n rows, of one directory or all four; colour only on a terminal
without NO_COLOR; names shown safely; a clear error and exit 1 for a
directory the user may not read and for a path that is not a filed mount.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# norm: a table with its relative times and durations made stable and its
# runs of spaces squeezed, to compare with an expected one.
norm() {
	sed -E -e 's/[0-9]+[smhd] ago/AGO/' \
		-e 's/  [0-9]+(\.[0-9]s|m[0-9][0-9]s|h[0-9][0-9]m|d[0-9][0-9]h)  /  DUR  /' \
		-e 's/ +/ /g'
}

# status ARGS...: filed --status ARGS, normalized.
status() {
	"$FILED_BIN" --status "$@" >raw &&
	norm <raw
}

# nobody CMD...: CMD as uid and gid 65534, without other groups.
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

esc=$(printf '\033')

test_expect_success 'start filed' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'an empty queue: the header alone' '
	echo "STATE ATTEMPT RESULT STARTED DURATION NAME" >expect &&
	status mnt >actual &&
	test_cmp expect actual
'

test_expect_success 'jobs in each state, one after the other' '
	echo "echo hi" >mnt/pending/ok &&
	wait_job_in complete ok &&
	echo "exit 3" >mnt/pending/bad &&
	wait_job_in failed bad &&
	echo "kill -KILL \$\$" >mnt/pending/killed &&
	wait_job_in failed killed &&
	gate run >mnt/pending/run &&
	wait_job_in active run &&
	echo true >mnt/pending/waiting &&
	wait_for 10 "test \"\$(xattr mnt/pending/waiting state)\" = pending" &&
	echo true >mnt/pending/.draft
'

test_expect_success 'the table: one row a job, newest first' '
	cat >expect <<-\EOF &&
	STATE ATTEMPT RESULT STARTED DURATION NAME
	draft 0 - - - .draft
	pending 0 - - - waiting
	active 1 - AGO DUR run
	failed 1 SIGKILL AGO DUR killed
	failed 1 exit 3 AGO DUR bad
	complete 1 exit 0 AGO DUR ok
	EOF
	status mnt >actual &&
	test_cmp expect actual
'

test_expect_success 'columns are aligned, the name last' '
	"$FILED_BIN" --status mnt >raw &&
	awk "NR == 1 { p = index(\$0, \"NAME\") }
		NR > 1 && (substr(\$0, p - 2, 2) != \"  \" ||
		    substr(\$0, p, 1) == \" \") { exit 1 }" raw &&
	sed -n 2p raw | grep "^draft  *0  *-  *-  *-  *\.draft$"
'

test_expect_success 'started is relative to now, duration in seconds' '
	"$FILED_BIN" --status mnt >raw &&
	grep -E "^complete +1 +exit 0 +[0-9]+s ago +[0-9]+\.[0-9]s +ok$" raw
'

test_expect_success '-n limits the rows to the newest ones' '
	head -n 3 expect >expect.3 &&
	status -n 2 mnt >actual &&
	test_cmp expect.3 actual &&
	status -n 0 mnt >actual &&
	test_cmp expect actual &&
	status -n 1 mnt >actual &&
	head -n 2 expect >expect.2 &&
	test_cmp expect.2 actual
'

test_expect_success 'one directory only' '
	cat >expect.failed <<-\EOF &&
	STATE ATTEMPT RESULT STARTED DURATION NAME
	failed 1 SIGKILL AGO DUR killed
	failed 1 exit 3 AGO DUR bad
	EOF
	status failed mnt >actual &&
	test_cmp expect.failed actual &&
	status -n 1 failed/ mnt >actual &&
	head -n 2 expect.failed >expect.1 &&
	test_cmp expect.1 actual &&
	status complete mnt >actual &&
	grep -c . actual >count &&
	echo 2 >expect.count &&
	test_cmp expect.count count
'

test_expect_success 'a job that changes state comes first' '
	mv mnt/failed/bad mnt/pending/ &&
	status -n 2 mnt >actual &&
	cat >expect.moved <<-\EOF &&
	STATE ATTEMPT RESULT STARTED DURATION NAME
	pending 0 - - - bad
	EOF
	echo "draft 0 - - - .draft" >>expect.moved &&
	test_cmp expect.moved actual
'

test_expect_success 'at most 20 rows by default' '
	for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21
	do
		echo true >"mnt/pending/.d$i" || return 1
	done &&
	"$FILED_BIN" --status mnt >raw &&
	test $(wc -l <raw) = 21 &&
	sed -n 2p raw | grep " \.d21$" &&
	sed -n 21p raw | grep " \.d02$" &&
	"$FILED_BIN" --status -n 0 mnt >raw &&
	test $(wc -l <raw) = 28 &&
	rm mnt/pending/.d*
'

test_expect_success 'names with odd bytes are shown safely' '
	odd=$(printf "odd\377\302\233x") &&
	cafe=$(printf "caf\303\251") &&
	echo true >"mnt/pending/.$odd" &&
	echo true >"mnt/pending/.$cafe" &&
	status -n 2 pending mnt >actual &&
	cat >expect <<-EOF &&
	STATE ATTEMPT RESULT STARTED DURATION NAME
	draft 0 - - - .$cafe
	draft 0 - - - .odd???x
	EOF
	test_cmp expect actual &&
	rm "mnt/pending/.$odd" "mnt/pending/.$cafe"
'

test_expect_success 'no colour when the output is not a terminal' '
	"$FILED_BIN" --status mnt >raw &&
	! grep -q "$esc" raw
'

script -qec true /dev/null >/dev/null 2>&1 && test_set_prereq PTY

test_expect_success PTY 'on a terminal the states are coloured' '
	script -qec "\"$FILED_BIN\" --status mnt" /dev/null >raw &&
	grep -q "${esc}\[31mfailed" raw &&
	grep -q "${esc}\[32mcomplete" raw &&
	grep -q "${esc}\[36mactive" raw &&
	NO_COLOR= script -qec "\"$FILED_BIN\" --status mnt" /dev/null >raw &&
	grep -q "$esc" raw
'

test_expect_success PTY 'NO_COLOR turns colour off on a terminal' '
	NO_COLOR=1 script -qec "\"$FILED_BIN\" --status mnt" /dev/null >raw &&
	grep "complete  *1  *exit 0" raw &&
	! grep -q "$esc" raw
'

test_expect_success SETPRIV 'a user who may read the queue sees the same table' '
	chgrp 65534 mnt/pending mnt/active mnt/failed mnt/complete &&
	status mnt >expect &&
	nobody "$FILED_BIN" --status mnt >raw &&
	norm <raw >actual &&
	test_cmp expect actual &&
	grep "^complete 1 exit 0 AGO DUR ok$" actual
'

test_expect_success SETPRIV 'what a user may not read shows as ?' '
	chmod 0400 mnt/failed/killed &&
	nobody "$FILED_BIN" --status failed mnt >raw &&
	norm <raw >actual &&
	grep "^failed ? ? ? ? killed$" actual &&
	chmod 0440 mnt/failed/killed
'

test_expect_success SETPRIV 'a directory the user may not read: an error, exit 1' '
	chmod 0700 mnt/failed &&
	test_expect_code 1 nobody "$FILED_BIN" --status mnt >out 2>err &&
	test_must_be_empty out &&
	grep "^filed: cannot read mnt/failed: Permission denied$" err &&
	test_expect_code 1 nobody "$FILED_BIN" --status failed mnt 2>err &&
	grep "^filed: cannot read mnt/failed: Permission denied$" err &&
	nobody "$FILED_BIN" --status active mnt >raw &&
	grep " run$" raw &&
	chmod 0750 mnt/failed
'

test_expect_success 'a path that is not a filed mount: an error, exit 1' '
	mkdir -p plain/pending plain/active plain/failed plain/complete &&
	: >plain/new-id &&
	test_expect_code 1 "$FILED_BIN" --status plain >out 2>err &&
	test_must_be_empty out &&
	echo "filed: plain: not a filed mount" >expect &&
	test_cmp expect err &&
	test_expect_code 1 "$FILED_BIN" --status mnt/pending 2>err &&
	echo "filed: mnt/pending: not a filed mount" >expect &&
	test_cmp expect err &&
	test_expect_code 1 "$FILED_BIN" --status nowhere 2>err &&
	echo "filed: nowhere: No such file or directory" >expect &&
	test_cmp expect err
'

test_expect_success 'usage errors: exit 1' '
	test_expect_code 1 "$FILED_BIN" --status 2>err &&
	grep "^usage: filed --status" err &&
	test_expect_code 1 "$FILED_BIN" --status -n many mnt 2>err &&
	grep "^filed: -n many: not a number of rows$" err &&
	test_expect_code 1 "$FILED_BIN" --status -n -1 mnt 2>err &&
	test_expect_code 1 "$FILED_BIN" --status done mnt 2>err &&
	grep "^filed: done: not pending, active, failed or complete$" err &&
	test_expect_code 1 "$FILED_BIN" --status a b c 2>err &&
	"$FILED_BIN" --status --help >out &&
	grep "^usage: filed --status" out
'

test_expect_success 'filed stops cleanly' '
	open_gate run &&
	wait_job_in complete run &&
	filed_stop
'

test_done
