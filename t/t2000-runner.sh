#!/bin/sh

test_description='running jobs: interpreter, environment, order, limits

A job runs under /bin/sh or its #! interpreter, with stdin /dev/null, the
environment of filed plus FILED_JOB and FILED_ATTEMPT, in its own session;
jobs start in FIFO order, at most max_jobs at once; failures are retried
with exponential backoff; a timeout sends SIGTERM, then SIGKILL.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed with one job at a time' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 kill_grace=5 &&
	FILED_T2000_VAR="from filed" &&
	export FILED_T2000_VAR &&
	filed_start &&
	unset FILED_T2000_VAR
'

test_expect_success 'exit status 0: the job moves to complete/' '
	echo "exit 0" >mnt/pending/zero &&
	wait_job_in complete zero &&
	test "$(xattr mnt/complete/zero exit)" = 0
'

test_expect_success 'exit status 1 with no retries left: failed/' '
	echo "exit 1" >mnt/pending/one &&
	wait_job_in failed one &&
	path_is_missing mnt/complete/one
'

# FILED_TEST_SHELL, when set, is the shell setting (see t7500-shell.sh).
test_expect_success 'a script without #! runs under the shell (/bin/sh)' '
	echo "readlink -f /proc/\$\$/exe" >mnt/pending/plain &&
	wait_job_in complete plain &&
	sh__prog=${FILED_TEST_SHELL:-/bin/sh} &&
	readlink -f "${sh__prog%% *}" >expect &&
	test_cmp expect mnt/complete/plain
'

test_expect_success 'a #! line names the interpreter' '
	printf "#!/usr/bin/awk -f\nBEGIN { print \"awk ran\" }\n" >mnt/pending/awk &&
	wait_job_in complete awk &&
	echo "awk ran" >expect &&
	test_cmp expect mnt/complete/awk
'

test_expect_success 'a #! line passes its one optional argument' '
	printf "#!/bin/sh -e\necho before\nfalse\necho after\n" >mnt/pending/dash-e &&
	wait_job_in failed dash-e &&
	grep -x before mnt/failed/dash-e &&
	! grep -x after mnt/failed/dash-e &&
	grep -x "=== filed: attempt 1: exited with status 1 ===" mnt/failed/dash-e
'

test_expect_success 'stdin is /dev/null' '
	printf "readlink /proc/\$\$/fd/0\ncat\necho eof\n" >mnt/pending/stdin &&
	wait_job_in complete stdin &&
	printf "/dev/null\neof\n" >expect &&
	test_cmp expect mnt/complete/stdin
'

test_expect_success 'FILED_JOB and FILED_ATTEMPT are set' '
	echo "echo \"\$FILED_JOB \$FILED_ATTEMPT\"" >mnt/pending/env-job &&
	wait_job_in complete env-job &&
	echo "env-job 1" >expect &&
	test_cmp expect mnt/complete/env-job
'

test_expect_success 'a job inherits the environment of filed' '
	echo "echo \"\$FILED_T2000_VAR\"" >mnt/pending/env-inherit &&
	wait_job_in complete env-inherit &&
	echo "from filed" >expect &&
	test_cmp expect mnt/complete/env-inherit
'

test_expect_success 'a job runs in /, not in the working directory of filed' '
	echo pwd >mnt/pending/cwd &&
	wait_job_in complete cwd &&
	echo / >expect &&
	test_cmp expect mnt/complete/cwd
'

test_expect_success 'each attempt runs in its own session and process group' '
	echo "echo \$\$ \$(cut -d\" \" -f5,6 /proc/\$\$/stat)" >mnt/pending/session &&
	wait_job_in complete session &&
	read pid pgid sid <mnt/complete/session &&
	test "$pgid" = "$pid" &&
	test "$sid" = "$pid" &&
	test "$sid" != "$(cut -d" " -f6 /proc/$filed_pid/stat)"
'

test_expect_success 'when the script ends, the rest of its group is killed' '
	printf "sleep 1000 &\necho \$! >\"%s/leftover.pid\"\n" "$TRASH" >mnt/pending/leftover &&
	wait_job_in complete leftover &&
	test -s leftover.pid &&
	wait_for 10 "! pid_alive $(cat leftover.pid)"
'

test_expect_success 'jobs start in the order they were queued (max_jobs 1)' '
	gate fifo >mnt/pending/fifo-block &&
	wait_job_in active fifo-block &&
	for j in c a e b d
	do
		echo "echo \$FILED_JOB >>\"$TRASH/fifo.order\"" >mnt/pending/$j ||
		return 1
	done &&
	open_gate fifo &&
	wait_job_in complete d &&
	printf "c\na\ne\nb\nd\n" >expect &&
	test_cmp expect fifo.order
'

test_expect_success 'at most max_jobs run at once (max_jobs 2)' '
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	for j in 1 2 3 4
	do
		{
			echo "echo start >>\"$TRASH/conc.events\"" &&
			gate conc &&
			echo "echo end >>\"$TRASH/conc.events\""
		} >mnt/pending/conc$j || return 1
	done &&
	wait_for 10 "test \$(ls mnt/active | wc -l) = 2" &&
	test $(ls mnt/pending | wc -l) = 2 &&
	wait_for 10 "test \$(grep -c start conc.events) = 2" &&
	open_gate conc &&
	for j in 1 2 3 4
	do
		wait_job_in complete conc$j || return 1
	done &&
	awk "/start/ { n++; if (n > m) m = n } /end/ { n-- } END { print m }" \
		conc.events >actual &&
	echo 2 >expect &&
	test_cmp expect actual &&
	test $(grep -c start conc.events) = 4 &&
	echo "{\"max_jobs\": 1}" >mnt/config.json
'

test_expect_success 'a failing job is retried: max_retries 2 means 3 attempts' '
	echo "{\"max_retries\": 2, \"backoff_base\": 0}" >mnt/config.json &&
	echo "echo \"try \$FILED_ATTEMPT\"; exit 4" >mnt/pending/retried &&
	wait_job_in failed retried &&
	cat >expect <<-\EOF &&
	=== filed: attempt 1: exited with status 4 ===
	try 1
	=== filed: attempt 2: exited with status 4 ===
	try 2
	=== filed: attempt 3: exited with status 4 ===
	try 3
	EOF
	test_cmp expect mnt/failed/retried &&
	test "$(xattr mnt/failed/retried attempts)" = 3
'

test_expect_success 'a job that succeeds on a retry lands in complete/' '
	echo "test \$FILED_ATTEMPT = 3 && echo third" >mnt/pending/third &&
	wait_job_in complete third &&
	echo third >expect &&
	test_cmp expect mnt/complete/third &&
	test "$(xattr mnt/complete/third attempts)" = 3
'

test_expect_success 'many fast-failing jobs at once each get exactly 3 attempts' '
	echo "{\"max_jobs\": 2, \"max_retries\": 2, \"backoff_base\": 0}" >mnt/config.json &&
	for i in $(test_seq 1 20)
	do
		echo "echo \"try \$FILED_ATTEMPT\"; test \$FILED_ATTEMPT -gt 3" >mnt/pending/many$i ||
		return 1
	done &&
	wait_for 30 "test \$(ls mnt/pending mnt/active | grep -c many) = 0" &&
	test -z "$(ls mnt/complete | grep many)" &&
	for i in $(test_seq 1 20)
	do
		test $(grep -c "^=== filed: attempt" mnt/failed/many$i) = 3 &&
		grep -x "try 3" mnt/failed/many$i || return 1
	done &&
	echo "{\"max_jobs\": 1}" >mnt/config.json
'

# 0.2 * 3^1 = 0.6 s, then 0.2 * 3^2 = 1.8 s; an exponent off by one either
# way (0.2 and 0.6, or 1.8 and 5.4) falls outside the bounds.
test_expect_success 'retries wait backoff_base * backoff_mult ^ attempts' '
	echo "{\"max_retries\": 2, \"backoff_base\": 0.2, \"backoff_mult\": 3}" >mnt/config.json &&
	echo "date +%s.%N >>\"$TRASH/backoff.times\"; exit 1" >mnt/pending/backoff &&
	wait_job_in failed backoff &&
	test $(wc -l <backoff.times) = 3 &&
	awk "NR > 1 { print \$1 - prev } { prev = \$1 }" backoff.times >gaps &&
	cat gaps &&
	awk "NR == 1 && (\$1 < 0.6 || \$1 >= 1.5) { exit 1 }
	     NR == 2 && (\$1 < 1.8 || \$1 >= 4.0) { exit 1 }" gaps
'

test_expect_success 'a timeout sends SIGTERM to the job, then SIGKILL after kill_grace' '
	echo "{\"max_retries\": 0, \"backoff_base\": 0, \"timeout\": 0.5, \"kill_grace\": 0.5}" >mnt/config.json &&
	cat >mnt/pending/stubborn <<-\EOF &&
	trap "echo got TERM" TERM
	echo started
	while :; do sleep 0.05; done
	EOF
	wait_job_in failed stubborn &&
	head -n 2 mnt/failed/stubborn >actual &&
	cat >expect <<-\EOF &&
	=== filed: attempt 1: timed out (killed by signal 9) ===
	started
	EOF
	test_cmp expect actual &&
	grep -x "got TERM" mnt/failed/stubborn &&
	test $(grep -c "^=== filed:" mnt/failed/stubborn) = 1 &&
	test "$(xattr mnt/failed/stubborn signal)" = SIGKILL
'

test_expect_success 'a job that dies of the SIGTERM is marked timed out by 15' '
	echo "echo started; exec sleep 1000" >mnt/pending/meek &&
	wait_job_in failed meek &&
	cat >expect <<-\EOF &&
	=== filed: attempt 1: timed out (killed by signal 15) ===
	started
	EOF
	test_cmp expect mnt/failed/meek
'

test_expect_success 'a timeout kills the whole process group' '
	printf "sleep 1000 &\necho \$! >\"%s/tkid.pid\"\nwait\n" "$TRASH" >mnt/pending/tgroup &&
	wait_job_in failed tgroup &&
	test -s tkid.pid &&
	wait_for 10 "! pid_alive $(cat tkid.pid)" &&
	echo "{\"timeout\": 0}" >mnt/config.json
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
