#!/bin/sh

test_description='max_log_size: bounded output of attempts

With max_log_size set, each attempt keeps the first max_log_size bytes of
its output (stdout and stderr alike); the rest is dropped while the job
goes on, and a line at the end of the attempt'"'"'s output says how many
bytes were dropped. Output within the bound is untouched, with no line.
Each attempt is bounded on its own; max_log_size 0 keeps everything.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# lines N: N lines of 30 bytes each (29 digits and a newline).
lines() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%029d\n", i }'
}

# marker DROPPED CAP: the line that ends an attempt that dropped bytes.
marker() {
	echo "filed: $1 bytes of output dropped: this attempt wrote more than max_log_size ($2)"
}

test_expect_success 'start filed with max_log_size = 1000' '
	filed_ini max_log_size=1000 max_retries=1 backoff_base=0 &&
	filed_start &&
	test "$(jq .max_log_size mnt/config.json)" = 1000 &&
	grep -x "filed_max_log_size_bytes 1000" mnt/stats
'

test_expect_success 'output beyond max_log_size is dropped; the job goes on' '
	cat >job <<-EOF &&
	awk "BEGIN { for (i = 0; i < 100; i++) printf \\"%029d\\\\n\\", i }"
	touch "$TRASH/after"
	EOF
	cat job >mnt/pending/big &&
	wait_job_in complete big &&
	test -e after &&
	lines 100 | head -c 1000 >expect &&
	printf "\n" >>expect &&
	marker 2000 1000 >>expect &&
	test_cmp expect mnt/complete/big &&
	filed_log | grep "job .big.: 2000 bytes of output dropped beyond max_log_size"
'

test_expect_success 'output of exactly max_log_size bytes, or less, is kept whole' '
	echo "awk \"BEGIN { for (i = 0; i < 50; i++) printf \\\"%019d\\\\n\\\", i }\"" \
		>mnt/pending/exact &&
	echo "echo small; echo err >&2" >mnt/pending/small &&
	wait_job_in complete exact &&
	wait_job_in complete small &&
	test "$(wc -c <mnt/complete/exact)" = 1000 &&
	! grep "bytes of output dropped" mnt/complete/exact &&
	printf "small\nerr\n" >expect &&
	test_cmp expect mnt/complete/small
'

test_expect_success 'stderr counts too, and a line cut short gets its newline' '
	echo "printf %01500d 0 >&2" >mnt/pending/cut &&
	wait_job_in complete cut &&
	{ printf "%01000d\n" 0 && marker 500 1000; } >expect &&
	test_cmp expect mnt/complete/cut
'

test_expect_success 'the output grows up to the bound while the job runs' '
	{ echo "$(lines 100)" | sed "s/^/echo /" && gate grow; } >mnt/pending/grow &&
	wait_job_in active grow &&
	wait_for 10 "test \"\$(wc -c <mnt/active/grow)\" = 1000" &&
	lines 100 | head -c 1000 >expect &&
	test_cmp expect mnt/active/grow &&
	open_gate grow &&
	wait_job_in complete grow &&
	tail -n 1 mnt/complete/grow >last &&
	marker 2000 1000 >expect &&
	test_cmp expect last
'

test_expect_success 'attempts that write nothing leave no output file, two at a time' '
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
	do
		echo true >mnt/pending/quiet$i || return 1
	done &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
	do
		wait_job_in complete quiet$i &&
		test_must_be_empty mnt/complete/quiet$i &&
		path_is_missing "$(log_of complete/quiet$i)" || return 1
	done &&
	echo "{\"max_jobs\": 1}" >mnt/config.json
'

test_expect_success 'each attempt is bounded on its own' '
	{ cat job && echo "exit 1"; } >mnt/pending/twice &&
	wait_job_in failed twice &&
	test "$(xattr mnt/failed/twice attempts)" = 2 &&
	test "$(grep -cxF "$(marker 2000 1000)" mnt/failed/twice)" = 2
'

test_expect_success 'a timed-out attempt ends with the line too' '
	echo "{\"timeout\": 1, \"max_retries\": 0}" >mnt/config.json &&
	{ cat job && echo "exec sleep 100"; } >mnt/pending/slow &&
	wait_job_in failed slow &&
	test "$(xattr mnt/failed/slow reason)" = timeout &&
	grep -xF "$(marker 2000 1000)" mnt/failed/slow &&
	echo "{\"timeout\": 0}" >mnt/config.json
'

test_expect_success 'a process that escaped the group does not hold the attempt open' '
	cat >esc <<-EOF &&
	setsid sh -c "sleep 5; echo late; touch \"$TRASH/late\"" &
	echo early
	EOF
	cat esc >mnt/pending/esc &&
	wait_job_in complete esc 2 &&
	echo early >expect &&
	test_cmp expect mnt/complete/esc &&
	! wait_for 6 "test -e \"\$TRASH/late\"" 2>/dev/null &&
	test_cmp expect mnt/complete/esc
'

test_expect_success 'max_log_size survives a restart' '
	filed_stop &&
	filed_start &&
	test "$(jq .max_log_size mnt/config.json)" = 1000 &&
	cat job >mnt/pending/again &&
	wait_job_in complete again &&
	tail -n 1 mnt/complete/again >last &&
	marker 2000 1000 >expect &&
	test_cmp expect last
'

test_expect_success 'a bad max_log_size is refused and changes nothing' '
	cp mnt/config.json json.before &&
	test "$(errno_of write mnt/config.json "{\"max_log_size\": -1}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"max_log_size\": 1.5}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"max_log_size\": \"1k\"}")" = EINVAL &&
	test_cmp json.before mnt/config.json
'

test_expect_success 'max_log_size 0 keeps everything, from the next attempt on' '
	echo "{\"max_log_size\": 0}" >mnt/config.json &&
	cat job >mnt/pending/all &&
	wait_job_in complete all &&
	lines 100 >expect &&
	test_cmp expect mnt/complete/all
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
