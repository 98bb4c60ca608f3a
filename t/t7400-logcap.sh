#!/bin/sh

test_description='max_logs_total: a cap on the output files of finished jobs

While the output files of the finished jobs take more than max_logs_total
bytes, filed removes the oldest finished jobs that have output, those of
complete/ before those of failed/, as an rm would (events: reason=
max_logs_total), with a log line. The count comes from the journal, so it
is the same after a restart; a refused setting never takes effect.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# setting JSON: write JSON to config.json.
setting() {
	echo "$1" >mnt/config.json
}

# kb NAME [STATUS]: queue job NAME that prints 1000 bytes and exits STATUS.
kb() {
	printf 'head -c 1000 /dev/zero | tr "\\0" x\nexit %s\n' "${2:-0}" \
		>"mnt/pending/$1"
}

# present NAME...: each job is in complete/ or failed/.
present() {
	for p__n
	do
		test -e "mnt/complete/$p__n" || test -e "mnt/failed/$p__n" || {
			echo "job $p__n is gone" >&2
			return 1
		}
	done
}

# gone NAME...: no such job in complete/ or failed/.
gone() {
	for g__n
	do
		! test -e "mnt/complete/$g__n" && ! test -e "mnt/failed/$g__n" ||
			return 1
	done
}

# counted: the bytes of the finished jobs' output, as stats has them.
counted() {
	sed -n "s/^filed_finished_output_bytes //p" mnt/stats
}

# capped_line NAME: events.out has the line of NAME removed by the cap.
capped_line() {
	grep -E "^[^ ]+ $1 removed from=(complete|failed) reason=max_logs_total\$" \
		events.out
}

test_expect_success 'start filed; max_logs_total is 0 by default' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	test "$(jq .max_logs_total mnt/config.json)" = 0
'

test_expect_success 'under the cap nothing goes: f1 failed first, e1 without output, c1..c4' '
	setting "{\"max_logs_total\": 5000}" &&
	kb f1 1 &&
	wait_job_in failed f1 &&
	echo true >mnt/pending/e1 &&
	wait_job_in complete e1 &&
	for i in 1 2 3 4
	do
		kb c$i &&
		wait_job_in complete c$i || return 1
	done &&
	test "$(wc -c <mnt/complete/c1)" = 1000 &&
	test "$(wc -c <mnt/failed/f1)" -gt 1000 &&
	c1log=$(log_of complete/c1) &&
	c2log=$(log_of complete/c2) &&
	test -s "$c1log" &&
	present f1 e1 c1 c2 c3 c4 &&
	test "$(counted)" = 5000 &&
	grep -x "filed_max_logs_bytes 5000" mnt/stats
'

test_expect_success 'a job that takes the logs over the cap removes the oldest, just enough' '
	kb c5 &&
	wait_job_in complete c5 &&
	wait_for 5 "gone c1" &&
	present f1 e1 c2 c3 c4 c5 &&
	path_is_missing "$c1log" &&
	wait_for 5 "capped_line c1" &&
	filed_log | grep "take 6000 bytes, more than max_logs_total (5000)" &&
	wait_for 5 "filed_log | grep \"removed 1 finished job for max_logs_total\""
'

test_expect_success 'lowering the cap removes the oldest complete jobs at once' '
	setting "{\"max_logs_total\": 3500}" &&
	wait_for 5 "gone c2 c3" &&
	present f1 e1 c4 c5 &&
	path_is_missing "$c2log"
'

test_expect_success 'complete/ before failed/: f1, the oldest, stays while complete jobs can go' '
	setting "{\"max_logs_total\": 1500}" &&
	wait_for 5 "gone c4 c5" &&
	present f1 e1
'

test_expect_success 'then failed/; a job without output costs nothing and stays' '
	setting "{\"max_logs_total\": 500}" &&
	wait_for 5 "gone f1" &&
	present e1 &&
	wait_for 5 "capped_line f1"
'

test_expect_success 'the count is the same after a restart (it comes from the journal)' '
	setting "{\"max_logs_total\": 2500}" &&
	kb c6 && wait_job_in complete c6 &&
	kb c7 && wait_job_in complete c7 &&
	test "$(counted)" = 2000 &&
	filed_stop &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	present c6 c7 e1 &&
	test "$(counted)" = 2000 &&
	kb c8 && wait_job_in complete c8 &&
	wait_for 5 "gone c6" &&
	present c7 c8 e1
'

test_expect_success 'a job that ran twice counts its whole output file' '
	setting "{\"max_retries\": 1, \"max_logs_total\": 3500}" &&
	cat >mnt/pending/twice <<-\EOF &&
	head -c 1000 /dev/zero | tr "\0" y
	test "$FILED_ATTEMPT" = 2
	EOF
	wait_job_in complete twice &&
	test "$(wc -c <mnt/complete/twice)" = 1000 &&
	wait_for 5 "gone c7" &&
	present c8 twice e1 &&
	test "$(counted)" = 3000
'

test_expect_success 'a lower cap in the INI file applies at start' '
	filed_stop &&
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 max_logs_total=2500 &&
	filed_start &&
	{ cat mnt/events >events.out & } &&
	wait_for 5 "gone c8" &&
	present twice e1
'

test_expect_success 'a refused max_logs_total is EINVAL and changes nothing' '
	cp mnt/config.json json.before &&
	cp state/filed.ini ini.before &&
	for bad in "{\"max_logs_total\": -1}" "{\"max_logs_total\": 1.5}" \
		"{\"max_logs_total\": \"10\"}" \
		"{\"max_logs_total\": 100000000000001}" \
		"{\"max_logs_total\": 10, \"max_retries\": -1}"
	do
		test "$(errno_of write mnt/config.json "$bad")" = EINVAL || return 1
	done &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini &&
	present twice e1
'

test_expect_success 'a bad max_logs_total at SIGHUP is logged by file and line, and changes nothing' '
	printf "[queue]\nmax_jobs = 1\nmax_logs_total = 10k\n" >state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:3:.*max_logs_total\"" &&
	test_cmp json.before mnt/config.json &&
	present twice e1
'

test_expect_success 'and not after a restart either' '
	cp ini.before state/filed.ini &&
	filed_stop &&
	filed_start &&
	test_cmp json.before mnt/config.json &&
	present twice e1
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
