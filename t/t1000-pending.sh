#!/bin/sh

test_description='pending/: new jobs, drafts, renames, rm and refusals

A file written to pending/ is a job, queued when it is closed; a dot name is
a draft that is never run; a queued job is fixed text; names are checked and
unique across the four directories.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed with one job at a time' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 max_job_size=1000 &&
	filed_start
'

test_expect_success 'a file written to pending/ is a job that runs' '
	echo "echo hello" >mnt/pending/first &&
	wait_job_in complete first &&
	echo hello >expect &&
	test_cmp expect mnt/complete/first
'

test_expect_success 'close returns once the job is in the journal' '
	echo true >mnt/pending/durable &&
	grep -E " name=durable( |\$)" state/journal
'

test_expect_success 'a file closed without any text is not queued' '
	: >mnt/pending/empty &&
	touch mnt/pending/touched &&
	echo "echo after" >mnt/pending/after-empty &&
	wait_job_in complete after-empty &&
	for d in pending active failed complete
	do
		path_is_missing mnt/$d/empty &&
		path_is_missing mnt/$d/touched || return 1
	done &&
	filed_log | grep "job .empty.: closed without any text: not queued"
'

test_expect_success 'an empty draft is kept' '
	touch mnt/pending/.empty &&
	wait_for 10 "test \"\$(xattr mnt/pending/.empty state)\" = draft" &&
	test_must_be_empty mnt/pending/.empty &&
	rm mnt/pending/.empty
'

test_expect_success 'a blocking job holds the only slot' '
	gate q1 >blocker.sh &&
	cp blocker.sh mnt/pending/blocker &&
	wait_job_in active blocker
'

test_expect_success 'a queued job waits in pending/ and reads back as its script' '
	cat >script <<-EOF &&
	echo queued
	echo "\$FILED_JOB" >>"$TRASH/order"
	EOF
	cp script mnt/pending/q &&
	echo "echo \"\$FILED_JOB\" >>\"$TRASH/order\"" >mnt/pending/r1 &&
	echo "echo \"\$FILED_JOB\" >>\"$TRASH/order\"" >mnt/pending/r2 &&
	test_cmp script mnt/pending/q &&
	listing mnt/pending >actual &&
	printf "q\nr1\nr2\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'opening a queued job for writing: EACCES' '
	test "$(errno_of open mnt/pending/q O_WRONLY)" = EACCES &&
	test "$(errno_of open mnt/pending/q O_RDWR)" = EACCES &&
	test "$(errno_of open mnt/pending/q "O_WRONLY|O_APPEND")" = EACCES &&
	test "$(errno_of open mnt/pending/q "O_WRONLY|O_TRUNC")" = EACCES &&
	test_cmp script mnt/pending/q
'

test_expect_success 'truncating a queued job: EACCES' '
	test "$(errno_of truncate mnt/pending/q 0)" = EACCES &&
	test_cmp script mnt/pending/q
'

test_expect_success 'the shell cannot overwrite a queued job' '
	test_must_fail sh -c "echo evil >mnt/pending/q" &&
	test_cmp script mnt/pending/q
'

test_expect_success 'O_CREAT|O_EXCL on a queued name: EEXIST' '
	test "$(errno_of open mnt/pending/q "O_WRONLY|O_CREAT|O_EXCL")" = EEXIST
'

test_expect_success 'renaming a queued job within pending/ keeps it queued' '
	mv mnt/pending/q mnt/pending/zq &&
	listing mnt/pending >actual &&
	printf "r1\nr2\nzq\n" >expect &&
	test_cmp expect actual &&
	test_cmp script mnt/pending/zq
'

test_expect_success 'renaming a queued job to a dot name: EPERM' '
	test "$(errno_of rename mnt/pending/r1 mnt/pending/.r1)" = EPERM &&
	test -f mnt/pending/r1 &&
	path_is_missing mnt/pending/.r1
'

test_expect_success 'a draft (dot name) is kept in pending/' '
	echo "touch \"$TRASH/draft-ran\"" >mnt/pending/.draft &&
	test -f mnt/pending/.draft &&
	ls -A mnt/pending | grep -x ".draft"
'

test_expect_success 'a draft can be appended to, rewritten and truncated' '
	echo v1 >mnt/pending/.edit &&
	echo v2 >>mnt/pending/.edit &&
	printf "v1\nv2\n" >expect &&
	test_cmp expect mnt/pending/.edit &&
	echo new >mnt/pending/.edit &&
	echo new >expect &&
	test_cmp expect mnt/pending/.edit &&
	test "$(errno_of truncate mnt/pending/.edit 0)" = OK &&
	test_must_be_empty mnt/pending/.edit
'

test_expect_success 'a draft can be renamed to another draft' '
	mv mnt/pending/.edit mnt/pending/.edit2 &&
	test -f mnt/pending/.edit2 &&
	path_is_missing mnt/pending/.edit
'

test_expect_success 'mv pending/.draft pending/name queues it' '
	echo "echo from-draft" >mnt/pending/.d3 &&
	mv mnt/pending/.d3 mnt/pending/fromdraft &&
	path_is_missing mnt/pending/.d3 &&
	test -f mnt/pending/fromdraft &&
	test "$(errno_of open mnt/pending/fromdraft O_WRONLY)" = EACCES
'

test_expect_success 'rm pending/NAME cancels a queued job' '
	echo "touch \"$TRASH/cancelled-ran\"" >mnt/pending/cancelme &&
	rm mnt/pending/cancelme &&
	path_is_missing mnt/pending/cancelme
'

test_expect_success 'a second open for writing of a job being written: EBUSY' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/w &&
	echo "echo w" >&7 &&
	test "$(errno_of open mnt/pending/w O_WRONLY 7>&- )" = EBUSY
'

test_expect_success 'a second open for reading of a job being written: EBUSY' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/w1 &&
	echo "echo w1" >&7 &&
	test "$(errno_of open mnt/pending/w1 O_RDONLY 7>&-)" = EBUSY
'

test_expect_success 'renaming a job still being written: EBUSY' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/w2 &&
	echo "echo w2" >&7 &&
	test "$(errno_of rename mnt/pending/w2 mnt/pending/w3 7>&-)" = EBUSY &&
	exec 7>&- &&
	echo "echo w2" >expect &&
	test_cmp expect mnt/pending/w2
'

test_expect_success 'renaming a draft still being written: EBUSY' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/.dw &&
	test "$(errno_of rename mnt/pending/.dw mnt/pending/dw 7>&-)" = EBUSY &&
	exec 7>&- &&
	test -f mnt/pending/.dw
'

test_expect_success 'a name taken in complete/ cannot be created in pending/: EEXIST' '
	test -f mnt/complete/first &&
	test "$(errno_of open mnt/pending/first "O_WRONLY|O_CREAT")" = EEXIST &&
	test_must_fail sh -c "echo true >mnt/pending/first" &&
	path_is_missing mnt/pending/first
'

test_expect_success 'a draft cannot be renamed to a name taken elsewhere: EEXIST' '
	echo true >mnt/pending/.d4 &&
	test "$(errno_of rename mnt/pending/.d4 mnt/pending/first)" = EEXIST &&
	test -f mnt/pending/.d4 &&
	path_is_missing mnt/pending/first
'

test_expect_success 'a name with a control character: EINVAL' '
	for c in "\001" "\037" "\177" "\t"
	do
		name=$(printf "a${c}b") &&
		test "$(errno_of open "mnt/pending/$name" "O_WRONLY|O_CREAT")" = EINVAL ||
		return 1
	done &&
	test "$(errno_of open "mnt/pending/a${LF}b" "O_WRONLY|O_CREAT")" = EINVAL &&
	listing mnt/pending >actual &&
	! grep "^a" actual
'

test_expect_success 'renaming a draft to a name with a control character: EINVAL' '
	test "$(errno_of rename mnt/pending/.d4 "mnt/pending/x$(printf "\001")")" = EINVAL &&
	test -f mnt/pending/.d4
'

test_expect_success 'a 255-byte name is a job name' '
	name=$(printf "%0255d" 0) &&
	echo true >"mnt/pending/$name" &&
	test -f "mnt/pending/$name"
'

test_expect_success 'a 256-byte name is refused' '
	name=$(printf "%0256d" 0) &&
	err=$(errno_of open "mnt/pending/$name" "O_WRONLY|O_CREAT") &&
	case "$err" in EINVAL|ENAMETOOLONG) ;; *) false ;; esac &&
	path_is_missing "mnt/pending/$name"
'

test_expect_success 'text over max_job_size: write and close fail with EFBIG' '
	printf "%01001d" 0 >big.txt &&
	test "$(errno_of writeclose mnt/pending/big - <big.txt)" = "EFBIG EFBIG" &&
	path_is_missing mnt/pending/big
'

test_expect_success 'text that grows over max_job_size in pieces: EFBIG, no job' '
	printf "%01200d" 0 >pieces.txt &&
	test_must_fail dd if=pieces.txt of=mnt/pending/big2 bs=600 2>dd.err &&
	grep "File too large" dd.err &&
	path_is_missing mnt/pending/big2 &&
	echo true >mnt/pending/big2 &&
	test -f mnt/pending/big2
'

test_expect_success 'text of exactly max_job_size is a job' '
	{ printf "#" && printf "%0998d" 0 && echo; } >exact.txt &&
	test $(wc -c <exact.txt) = 1000 &&
	cp exact.txt mnt/pending/exact &&
	test_cmp exact.txt mnt/pending/exact
'

test_expect_success 'when the slot frees, the queue runs in order' '
	open_gate q1 &&
	wait_job_in complete exact &&
	printf "zq\nr1\nr2\n" >expect &&
	test_cmp expect order &&
	echo queued >expect &&
	test_cmp expect mnt/complete/zq &&
	echo from-draft >expect &&
	test_cmp expect mnt/complete/fromdraft
'

test_expect_success 'a draft is never run' '
	test -f mnt/pending/.draft &&
	path_is_missing draft-ran &&
	path_is_missing mnt/complete/.draft &&
	path_is_missing mnt/failed/.draft
'

test_expect_success 'a cancelled job never ran and is gone everywhere' '
	path_is_missing cancelled-ran &&
	for d in pending active failed complete
	do
		path_is_missing mnt/$d/cancelme || return 1
	done
'

test_expect_success 'rm pending/.draft forgets the draft' '
	rm mnt/pending/.draft &&
	path_is_missing mnt/pending/.draft &&
	! ls -A mnt/pending | grep -x ".draft"
'

test_expect_success 'rm of a job waiting for a retry deletes it and its log' '
	echo "{\"max_retries\": 5, \"backoff_base\": 1000}" >mnt/config.json &&
	printf "echo try\nexit 1\n" >mnt/pending/retry &&
	wait_for 10 "xattr mnt/pending/retry retry_at >/dev/null 2>&1" &&
	log=$(log_of pending/retry) &&
	test -f "$log" &&
	rm mnt/pending/retry &&
	path_is_missing mnt/pending/retry &&
	path_is_missing "$log"
'

test_expect_success 'a job closed while another create stays open is queued' '
	exec 7>mnt/pending/held-open &&
	echo "echo overlap" >mnt/pending/overlap &&
	echo overlap >expect &&
	wait_job_in complete overlap &&
	test_cmp expect mnt/complete/overlap &&
	echo "echo held" >&7 &&
	exec 7>&- &&
	wait_job_in complete held-open &&
	echo held >expect &&
	test_cmp expect mnt/complete/held-open
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
