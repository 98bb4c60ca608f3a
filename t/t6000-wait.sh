#!/bin/sh

test_description='wait/NAME: a read that blocks until the job is final

A read of wait/NAME blocks until job NAME is in complete/ or failed/, or
removed, then reads one line: complete, failed or removed. A retry or an
interrupted attempt is not final. A job already finished answers at once,
an unknown name is ENOENT at once. A signal to a blocked reader ends its
read with EINTR; filed stopping ends it with ECONNABORTED. An open file
keeps its answer: a second read is at its end (0 bytes), and a new open
after a rerun waits for the new run. ls wait/ lists nothing, nothing can
be made, removed or renamed in it, and waiting needs read permission on
the job.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# Where a reader is blocked: the kernel stack of its process, or else its
# wait channel.
test -r "/proc/$$/stack" && cat "/proc/$$/stack" >/dev/null 2>&1 &&
	stack_ok=1

test "$(id -u)" = 0 && command -v setpriv >/dev/null 2>&1 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c 'cd "$1"' - "$TRASH" 2>/dev/null &&
	test_set_prereq SETPRIV

# start TAG CMD...: run CMD in the background: its output in out.TAG, its
# errors in err.TAG, its pid in pid.TAG and, once it exits, its exit
# status in rc.TAG.
start() {
	s__tag=$1
	shift
	rm -f "out.$s__tag" "err.$s__tag" "pid.$s__tag" "rc.$s__tag"
	(
		"$@" >"out.$s__tag" 2>"err.$s__tag" &
		echo $! >"pid.$s__tag"
		wait $!
		echo $? >"rc.$s__tag"
	) &
	wait_for 10 "test -s pid.$s__tag"
}

# waiter TAG NAME: cat wait/NAME in the background (see start).
waiter() {
	start "$1" cat "mnt/wait/$2"
}

# blocked TAG...: every reader TAG is in a read(2) of the mount that waits
# for filed's answer, and has not exited.
blocked() {
	for b__tag
	do
		b__pid=$(cat "pid.$b__tag" 2>/dev/null) &&
		test -n "$b__pid" && ! test -e "rc.$b__tag" || return 1
		if test -n "$stack_ok"
		then
			grep -q fuse_file_read_iter "/proc/$b__pid/stack" \
				2>/dev/null || return 1
		else
			test "$(cat "/proc/$b__pid/wchan" 2>/dev/null)" = \
				request_wait_answer || return 1
		fi
	done
}

# answered TAG LINE: reader TAG exited 0, having read LINE and a newline.
answered() {
	wait_for 10 "test -s rc.$1" &&
	echo "$2" >"expect.$1" &&
	test_cmp "expect.$1" "out.$1" &&
	test "$(cat "rc.$1")" = 0
}

# now NAME: read wait/NAME, which must answer at once.
now() {
	timeout 5 cat "mnt/wait/$1"
}

# per_attempt NAME STATUS...: shell text for a job whose attempt N waits
# for gate.NAME.N, then exits with the Nth STATUS.
per_attempt() {
	pa__name=$1
	shift
	printf 'while ! test -e "%s/gate.%s.$FILED_ATTEMPT"; do sleep 0.02; done\n' \
		"$TRASH" "$pa__name"
	printf 'set -- %s\nshift $((FILED_ATTEMPT - 1))\nexit $1\n' "$*"
}

# attempt_runs NAME N: attempt N of job NAME is running.
attempt_runs() {
	test -e "mnt/active/$1" &&
	test "$(xattr "mnt/active/$1" attempts 2>/dev/null)" = "$2"
}

test_expect_success 'start filed; the readers that watch what read(2) returns' '
	cat >eintr.py <<-\EOF &&
	# Read wait/NAME once, with a SIGINT handler that does nothing: print what
	# the read(2) returned, or the name of its errno.
	import ctypes, errno, os, signal, sys
	libc = ctypes.CDLL(None, use_errno=True)
	signal.signal(signal.SIGINT, lambda s, f: None)
	fd = os.open(sys.argv[1], os.O_RDONLY)
	buf = ctypes.create_string_buffer(64)
	n = libc.read(fd, buf, 64)
	if n < 0:
	    print(errno.errorcode[ctypes.get_errno()])
	else:
	    sys.stdout.write(buf.raw[:n].decode())
	EOF
	cat >reads.py <<-\EOF &&
	# Open wait/NAME, then print what each read returned, in brackets, with
	# newlines as \n: SIZE reads SIZE bytes at the current offset, @OFF
	# preads 64 bytes at OFF, mv:SRC:DST renames SRC to DST in between.
	import os, sys
	fd = os.open(sys.argv[1], os.O_RDONLY)
	for a in sys.argv[2:]:
	    if a.startswith("mv:"):
	        _, src, dst = a.split(":")
	        os.rename(src, dst)
	        continue
	    if a.startswith("@"):
	        data = os.pread(fd, 64, int(a[1:]))
	    else:
	        data = os.read(fd, int(a))
	    print("[" + data.decode().replace("\n", "\\n") + "]")
	EOF
	filed_ini max_jobs=4 max_retries=1 backoff_base=0 kill_grace=5 &&
	filed_start -d
'

test_expect_success 'a reader blocks until the job completes, then reads "complete"' '
	{ gate c1 && echo "echo done"; } >mnt/pending/c1 &&
	wait_job_in active c1 &&
	waiter c1 c1 &&
	wait_for 10 "blocked c1" &&
	open_gate c1 &&
	answered c1 complete &&
	test -e mnt/complete/c1 &&
	id=$(xattr mnt/complete/c1 id) &&
	grep -q " end id=$id attempt=1 .* next=complete " state/journal
'

test_expect_success 'as a file: [ "$(cat wait/NAME)" = complete ] works' '
	test "$(now c1)" = complete
'

test_expect_success 'a job that fails its retries: "failed", after the last one' '
	per_attempt f1 3 4 >mnt/pending/f1 &&
	wait_job_in active f1 &&
	waiter f1 f1 &&
	wait_for 10 "blocked f1" &&
	open_gate f1.1 &&
	wait_for 10 "attempt_runs f1 2" &&
	blocked f1 &&
	open_gate f1.2 &&
	answered f1 failed &&
	test -e mnt/failed/f1
'

test_expect_success 'a job that fails once, then succeeds: "complete", not earlier' '
	per_attempt r1 1 0 >mnt/pending/r1 &&
	wait_job_in active r1 &&
	waiter r1 r1 &&
	wait_for 10 "blocked r1" &&
	open_gate r1.1 &&
	wait_for 10 "attempt_runs r1 2" &&
	blocked r1 &&
	open_gate r1.2 &&
	answered r1 complete &&
	test -e mnt/complete/r1
'

test_expect_success 'rm of a running job while a reader waits: "removed"' '
	gate never >mnt/pending/rm1 &&
	wait_job_in active rm1 &&
	waiter rm1 rm1 &&
	wait_for 10 "blocked rm1" &&
	rm mnt/active/rm1 &&
	answered rm1 removed &&
	test "$(errno_of open mnt/wait/rm1 O_RDONLY)" = ENOENT
'

test_expect_success 'rm of a queued job while a reader waits: "removed"' '
	gate never >mnt/pending/.rm2 &&
	waiter rm2 .rm2 &&
	wait_for 10 "blocked rm2" &&
	rm mnt/pending/.rm2 &&
	answered rm2 removed
'

test_expect_success 'mv active/NAME failed/ while a reader waits: "failed"' '
	gate never >mnt/pending/k1 &&
	wait_job_in active k1 &&
	waiter k1 k1 &&
	wait_for 10 "blocked k1" &&
	mv mnt/active/k1 mnt/failed/ &&
	answered k1 failed &&
	test -e mnt/failed/k1
'

test_expect_success 'an unknown name is ENOENT, at once' '
	test "$(timeout 5 "$FILED_PYTHON" -c "
import errno, os
try:
	os.open(\"mnt/wait/nosuch\", os.O_RDONLY)
	print(\"OK\")
except OSError as e:
	print(errno.errorcode[e.errno])
")" = ENOENT &&
	test "$(errno_of open mnt/wait/nosuch O_RDONLY)" = ENOENT &&
	! test -e mnt/wait/nosuch &&
	test "$(errno_of read mnt/wait/c1)" = OK
'

test_expect_success 'a job already in complete/ or failed/ answers at once' '
	test "$(now c1)" = complete &&
	test "$(now f1)" = failed &&
	test "$(now k1)" = failed
'

test_expect_success 'reads smaller than the line get it a piece at a time' '
	test "$(timeout 5 dd if=mnt/wait/c1 bs=1 2>/dev/null)" = complete &&
	timeout 5 "$FILED_PYTHON" reads.py mnt/wait/f1 3 3 3 3 >actual &&
	cat >expect <<-\EOF &&
	[fai]
	[led]
	[\n]
	[]
	EOF
	test_cmp expect actual
'

test_expect_success 'an answered file keeps its answer, at its end a read gets 0 bytes' '
	rm -f gate.c1 &&
	mv mnt/complete/c1 mnt/pending/ &&
	wait_job_in active c1 &&
	mv mnt/active/c1 mnt/failed/ &&
	timeout 5 "$FILED_PYTHON" reads.py mnt/wait/c1 64 64 \
		mv:mnt/failed/c1:mnt/pending/c1 @0 64 >actual &&
	cat >expect <<-\EOF &&
	[failed\n]
	[]
	[failed\n]
	[]
	EOF
	test_cmp expect actual &&
	wait_job_in active c1
'

test_expect_success 'after a rerun, a new open waits for the new run' '
	waiter c1b c1 &&
	wait_for 10 "blocked c1b" &&
	open_gate c1 &&
	answered c1b complete
'

test_expect_success 'a job whose final state came after the open, before the read: at once' '
	gate o1 >mnt/pending/o1 &&
	wait_job_in active o1 &&
	cat >late.py <<-\EOF &&
	import os, sys, time
	fd = os.open("mnt/wait/o1", os.O_RDONLY)
	open("gate.o1", "w").close()
	while not os.path.exists("mnt/complete/o1"):
	    time.sleep(0.02)
	sys.stdout.write(os.read(fd, 64).decode())
	EOF
	test "$(timeout 10 "$FILED_PYTHON" late.py)" = complete
'

test_expect_success 'SIGTERM to filed: a blocked reader gets ECONNABORTED' '
	gate ia >mnt/pending/ia &&
	wait_job_in active ia &&
	waiter ia ia &&
	wait_for 10 "blocked ia" &&
	filed_stop &&
	wait_for 10 "test -s rc.ia" &&
	test "$(cat rc.ia)" != 0 &&
	grep "Software caused connection abort" err.ia &&
	grep "stopping: 1 read of wait/ answered ECONNABORTED" filed.log &&
	grep "job .ia.: attempt 1 interrupted" filed.log
'

test_expect_success 'after the restart the job runs again, and a new reader gets its line' '
	filed_start -d &&
	wait_for 10 "attempt_runs ia 2" &&
	waiter ia2 ia &&
	wait_for 10 "blocked ia2" &&
	open_gate ia &&
	answered ia2 complete
'

test_expect_success 'SIGINT ends a blocked cat at once' '
	gate si >mnt/pending/si &&
	wait_job_in active si &&
	start si env --default-signal=INT cat mnt/wait/si &&
	wait_for 10 "blocked si" &&
	kill -INT "$(cat pid.si)" &&
	wait_for 3 "test -s rc.si" &&
	test "$(cat rc.si)" = 130 &&
	test -e mnt/active/si
'

test_expect_success 'the read of a reader that handles SIGINT fails with EINTR' '
	start si2 "$FILED_PYTHON" eintr.py mnt/wait/si &&
	wait_for 10 "blocked si2" &&
	kill -INT "$(cat pid.si2)" &&
	wait_for 3 "test -s rc.si2" &&
	test "$(cat rc.si2)" = 0 &&
	echo EINTR >expect &&
	test_cmp expect out.si2 &&
	filed_log | grep "job .si.: a read of wait/si was interrupted"
'

test_expect_success 'after the interrupts filed still serves, and answers the next reader' '
	waiter si3 si &&
	wait_for 10 "blocked si3" &&
	open_gate si &&
	answered si3 complete
'

test_expect_success 'many readers of one job all get the same line' '
	gate m1 >mnt/pending/m1 &&
	wait_job_in active m1 &&
	tags= &&
	i=0 &&
	while test $i -lt 200
	do
		waiter "m1.$i" m1 &&
		tags="$tags m1.$i" &&
		i=$((i + 1)) || return 1
	done &&
	wait_for 30 "blocked $tags" &&
	open_gate m1 &&
	wait_for 20 "test \$(ls rc.m1.* | wc -l) = 200" &&
	cat rc.m1.* | sort | uniq -c >actual &&
	echo "    200 0" >expect &&
	test_cmp expect actual &&
	cat out.m1.* | sort | uniq -c >actual &&
	echo "    200 complete" >expect &&
	test_cmp expect actual
'

test_expect_success 'a reader of a draft waits until it is queued and has run' '
	{ gate d1 && echo "echo ran"; } >mnt/pending/.d1 &&
	waiter d1 .d1 &&
	wait_for 10 "blocked d1" &&
	mv mnt/pending/.d1 mnt/pending/d1 &&
	wait_job_in active d1 &&
	blocked d1 &&
	open_gate d1 &&
	answered d1 complete &&
	test "$(now d1)" = complete
'

test_expect_success 'a draft replaced by a rename over it: "removed"' '
	echo "echo old" >mnt/pending/.d2 &&
	waiter d2 .d2 &&
	wait_for 10 "blocked d2" &&
	echo "echo new" >mnt/pending/.d2new &&
	mv mnt/pending/.d2new mnt/pending/.d2 &&
	answered d2 removed &&
	echo "echo new" >expect &&
	test_cmp expect mnt/pending/.d2
'

test_expect_success 'a job its creator has not saved yet: EBUSY, as opening it is' '
	cat >unsaved.py <<-\EOF &&
	import errno, os
	fd = os.open("mnt/pending/nw", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
	os.write(fd, b"echo nw\n")
	for path in ("mnt/pending/nw", "mnt/wait/nw"):
	    try:
	        os.close(os.open(path, os.O_RDONLY))
	        print("OK")
	    except OSError as e:
	        print(errno.errorcode[e.errno])
	os.close(fd)
	EOF
	timeout 10 "$FILED_PYTHON" unsaved.py >actual &&
	printf "EBUSY\\nEBUSY\\n" >expect &&
	test_cmp expect actual &&
	wait_job_in complete nw &&
	test "$(now nw)" = complete
'

test_expect_success SETPRIV 'waiting needs read permission on the job: else EACCES' '
	chmod 0755 mnt/wait &&
	gate never >mnt/pending/.p1 &&
	chmod 0444 mnt/pending/.p1 &&
	test "$(stat -c %a mnt/wait/.p1)" = 444 &&
	as_nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	} &&
	test "$(as_nobody "$FILED_PYTHON" -c "
import errno, os
try:
	os.close(os.open(\"mnt/wait/.p1\", os.O_RDONLY))
	print(\"OK\")
except OSError as e:
	print(errno.errorcode[e.errno])
")" = OK &&
	chmod 0400 mnt/pending/.p1 &&
	test "$(stat -c %a mnt/wait/.p1)" = 400 &&
	test "$(as_nobody "$FILED_PYTHON" -c "
import errno, os
try:
	os.close(os.open(\"mnt/wait/.p1\", os.O_RDONLY))
	print(\"OK\")
except OSError as e:
	print(errno.errorcode[e.errno])
")" = EACCES &&
	rm mnt/pending/.p1
'

test_expect_success 'ls wait/ lists nothing, though wait/NAME exists for every job' '
	ls -A mnt/wait >actual &&
	test_must_be_empty actual &&
	test -f mnt/wait/d1 &&
	test -f mnt/wait/.d2 &&
	test "$(stat -c %s mnt/wait/d1)" = 0 &&
	test "$(now d1)" = complete
'

test_expect_success 'nothing can be made, removed or renamed in wait/' '
	test "$(errno_of unlink mnt/wait/d1)" = EPERM &&
	test "$(errno_of rename mnt/wait/d1 mnt/wait/d1b)" = EPERM &&
	test "$(errno_of rename mnt/wait/d1 mnt/pending/d1b)" = EPERM &&
	test "$(errno_of rename mnt/pending/.d2 mnt/wait/d2)" = EPERM &&
	test "$(errno_of open mnt/wait/made "O_WRONLY|O_CREAT")" = EPERM &&
	test "$(errno_of mkdir mnt/wait/dir)" = EPERM &&
	test "$(errno_of chmod mnt/wait/d1 0644)" = EPERM &&
	test "$(errno_of open mnt/wait/d1 O_WRONLY)" = EACCES &&
	test -e mnt/complete/d1 &&
	test -e mnt/pending/.d2 &&
	test "$(now d1)" = complete
'

test_expect_success 'filed stops with no read left parked, and exits 0' '
	filed_stop &&
	! filed_log | grep "of wait/ answered ECONNABORTED"
'

test_done
