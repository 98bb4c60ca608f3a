#!/bin/sh

test_description='jobs being written, and drafts shared by their writers

A job runs only once the open file that created it is released: a save
before that (a close of a duplicate, a child that inherited the shell'"'"'s
redirect and exited, an fsync) never makes the text so far runnable, not
after a stop and not after a crash: such a job is kept as a draft. A draft
behaves like a file: one text for all its writers, O_APPEND at its end,
and it cannot be queued while its creator still writes it. Errors on the
creating descriptor mean the job never runs.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# saved NAME: the journal holds a record of job NAME (its text was saved).
saved() {
	grep -q " name=$1 " state/journal
}

# never_ran NAME: job NAME is a draft in pending/ and ran nothing, while a
# job queued after it has run to the end.
never_ran() {
	echo true >"mnt/pending/after-$1" &&
	wait_job_in complete "after-$1" &&
	test "$(xattr "mnt/pending/$1" state)" = draft &&
	for d in active failed complete
	do
		path_is_missing "mnt/$d/$1" || return 1
	done &&
	! test -e "ran.$1"
}

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 max_job_size=4000 &&
	filed_start
'

test_expect_success 'a job written in two saves runs once, with all of its text' '
	{ echo "echo one"; /bin/true; echo "echo two"; } >mnt/pending/two &&
	wait_job_in complete two &&
	printf "one\ntwo\n" >expect &&
	test_cmp expect mnt/complete/two
'

# half NAME: in the background, write job NAME in two parts: the first is
# saved when a child that inherited the redirect exits; the second comes
# once gate.NAME is opened, at the latest when the test ends, whatever its
# outcome. Its job would touch ran.NAME.
half() {
	test_when_finished "open_gate $1" &&
	{
		{
			echo "touch \"$TRASH/ran.$1\"; echo first part"
			/bin/true
			while ! test -e "$TRASH/gate.$1"; do sleep 0.02; done
			echo "echo second part"
		} >"mnt/pending/$1"
		echo $? >"status.$1"
	} 2>/dev/null &
}

test_expect_success 'while it is written, the job is "new" and does not run' '
	half w0 &&
	wait_for 10 "saved w0" &&
	test "$(xattr mnt/pending/w0 state)" = new &&
	echo true >mnt/pending/beside &&
	wait_job_in complete beside &&
	test "$(xattr mnt/pending/w0 state)" = new &&
	! test -e ran.w0 &&
	test "$(errno_of open mnt/pending/w0 O_RDONLY)" = EBUSY &&
	test "$(errno_of rename mnt/pending/w0 mnt/pending/w0b)" = EBUSY &&
	open_gate w0 &&
	wait_job_in complete w0 &&
	test "$(cat status.w0)" = 0 &&
	printf "first part\nsecond part\n" >expect &&
	test_cmp expect mnt/complete/w0
'

test_expect_success 'kill -9 while a job is written: kept as a draft, never run' '
	half w1 &&
	wait_for 10 "saved w1" &&
	filed_kill9 &&
	open_gate w1 &&
	wait_for 10 "test -s status.w1" &&
	test "$(cat status.w1)" != 0 &&
	filed_start &&
	filed_log | grep "job .w1.: filed stopped while it was being written" &&
	never_ran w1 &&
	printf "touch \"%s/ran.w1\"; echo first part\n" "$TRASH" >expect &&
	test_cmp expect mnt/pending/w1
'

test_expect_success 'SIGTERM while a job is written: kept as a draft, never run' '
	half w2 &&
	wait_for 10 "saved w2" &&
	filed_stop &&
	grep "job .w2.: still being written as filed stops: kept as a draft" filed.log &&
	open_gate w2 &&
	wait_for 10 "test -s status.w2" &&
	test "$(cat status.w2)" != 0 &&
	filed_start &&
	never_ran w2
'

test_expect_success 'an fsync while writing saves the text, and it still does not run' '
	cat >fsync.py <<-\EOF &&
	import os, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	os.write(fd, b"touch ran.w3\n")
	os.fsync(fd)
	open(sys.argv[2], "w").close()
	while not os.path.exists(sys.argv[3]):
	    time.sleep(0.02)
	os.write(fd, b"echo rest\n")
	os.close(fd)
	EOF
	test_when_finished "open_gate w3" &&
	{ "$FILED_PYTHON" fsync.py mnt/pending/w3 synced.w3 gate.w3 2>/dev/null & } &&
	wait_for 10 "test -e synced.w3" &&
	saved w3 &&
	filed_kill9 &&
	open_gate w3 &&
	filed_start &&
	never_ran w3
'

test_expect_success 'a kept draft is queued like any draft, and runs' '
	mv mnt/pending/w1 mnt/pending/.w1 &&
	echo "echo fixed" >mnt/pending/.w1 &&
	mv mnt/pending/.w1 mnt/pending/w1 &&
	wait_job_in complete w1 &&
	echo fixed >expect &&
	test_cmp expect mnt/complete/w1
'

test_expect_success 'a draft cannot be queued while its creating open file is open: EBUSY' '
	exec 7>mnt/pending/.d1 &&
	echo "echo d1" >&7 &&
	/bin/true 7>&7 &&
	wait_for 10 "saved .d1" &&
	test "$(errno_of rename mnt/pending/.d1 mnt/pending/d1)" = EBUSY &&
	test -e mnt/pending/.d1 &&
	exec 7>&- &&
	mv mnt/pending/.d1 mnt/pending/d1 &&
	wait_job_in complete d1 &&
	echo d1 >expect &&
	test_cmp expect mnt/complete/d1
'

test_expect_success 'two writers appending to one draft: every line, no NUL byte' '
	for w in A B
	do
		(
			i=0
			while test $i -lt 100
			do
				i=$((i + 1))
				echo "echo $w$i" >>mnt/pending/.batch || exit 1
			done
		) &
		eval "pid$w=\$!"
	done &&
	wait $pidA && wait $pidB &&
	test $(wc -l <mnt/pending/.batch) = 200 &&
	test $(grep -c "^echo A" mnt/pending/.batch) = 100 &&
	test $(grep -c "^echo B" mnt/pending/.batch) = 100 &&
	tr -d "\\000" <mnt/pending/.batch >nonul &&
	test_cmp nonul mnt/pending/.batch &&
	filed_stop &&
	filed_start &&
	test_cmp nonul mnt/pending/.batch &&
	rm mnt/pending/.batch
'

test_expect_success 'a second writer of a draft being created shares its text' '
	exec 7>>mnt/pending/.shared &&
	echo "echo first" >&7 &&
	echo "echo second" >>mnt/pending/.shared &&
	echo "echo third" >&7 &&
	exec 7>&- &&
	printf "echo first\necho second\necho third\n" >expect &&
	test_cmp expect mnt/pending/.shared &&
	rm mnt/pending/.shared
'

test_expect_success 'ftruncate past max_job_size: EFBIG, close fails, nothing queued' '
	cat >trunc.py <<-\EOF &&
	import errno, os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	os.write(fd, b"echo big\n")
	try:
	    os.ftruncate(fd, int(sys.argv[2]))
	    print("OK", end=" ")
	except OSError as e:
	    print(errno.errorcode[e.errno], end=" ")
	try:
	    os.close(fd)
	    print("OK")
	except OSError as e:
	    print(errno.errorcode[e.errno])
	EOF
	test "$("$FILED_PYTHON" trunc.py mnt/pending/big 4001)" = "EFBIG EFBIG" &&
	for d in pending active failed complete
	do
		path_is_missing mnt/$d/big || return 1
	done &&
	test "$("$FILED_PYTHON" trunc.py mnt/pending/.bigdraft 4001)" = "EFBIG EFBIG" &&
	path_is_missing mnt/pending/.bigdraft &&
	test "$("$FILED_PYTHON" trunc.py mnt/pending/fits 4000)" = "OK OK" &&
	wait_job_in complete fits
'

# The release that decides comes a moment after close() returned: poll.
test_expect_success 'a job with no text is not queued; an empty draft is kept' '
	touch mnt/pending/nothing &&
	wait_for 10 "! test -e mnt/pending/nothing" &&
	touch mnt/pending/.nothing &&
	wait_for 10 "test \"\$(xattr mnt/pending/.nothing state)\" = draft" &&
	test_must_be_empty mnt/pending/.nothing &&
	rm mnt/pending/.nothing
'

# An empty draft is saved as its last open file is released; another open
# of it that comes and goes while that save is in flight saves nothing
# more (filed once wrote the draft twice and refused its own record).
# The opener is a daemon thread and is always told to stop, so a failed
# create (a mount gone) fails the test instead of hanging it.
test_expect_success 'opens of an empty draft while it is being saved' '
	cat >race.py <<-\EOF &&
	import os, sys, threading
	d, n = sys.argv[1], int(sys.argv[2])
	for i in range(n):
	    p = os.path.join(d, ".race%d" % i)
	    stop = []
	    def opener():
	        while not stop:
	            try:
	                os.close(os.open(p, os.O_RDONLY))
	            except OSError:
	                pass
	    t = threading.Thread(target=opener, daemon=True)
	    t.start()
	    try:
	        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
	        for k in range(20):
	            try:
	                os.close(os.open(p, os.O_RDONLY))
	            except OSError:
	                pass
	    finally:
	        stop.append(1)
	        t.join(10)
	EOF
	"$FILED_PYTHON" race.py mnt/pending 200 &&
	pid_alive "$filed_pid" &&
	test "$(ls -A mnt/pending | grep -c "^\.race")" = 200 &&
	rm mnt/pending/.race*
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
