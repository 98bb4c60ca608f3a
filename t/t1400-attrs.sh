#!/bin/sh

test_description='owners, modes, times, sizes and user.filed.* attributes

Job files belong to their creator with the group of their directory, show
the time of their last state change, and a size equal to what a read
returns; chmod and chown of the directories, new-id and config.json are
kept across restarts; getfattr -d shows each job'"'"'s metadata: how its
last attempt ended (reason, exit, signal by name), how long it took or has
run so far (duration), its pid while it runs, with ENODATA for what does
not apply and the size protocol of getxattr(2).'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

rfc3339='^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$'
seconds='^[0-9][0-9]*\.[0-9][0-9][0-9]$'

# absent FILE NAME...: user.filed.NAME is ENODATA for each NAME.
absent() {
	ab__f=$1
	shift
	for ab__n
	do
		test "$(errno_of getxattr "$ab__f" "user.filed.$ab__n")" = ENODATA ||
		{ echo "user.filed.$ab__n of $ab__f exists" >&2; return 1; }
	done
}

# longer FILE THAN: user.filed.duration of FILE is more than THAN seconds.
longer() {
	lo__d=$(xattr "$1" duration) &&
	awk -v d="$lo__d" -v t="$2" 'BEGIN { exit !(d > t) }'
}

# protocol FILE NAME: the value of user.filed.NAME as os.getxattr reads it,
# the length a getxattr of size 0 returns, and what a getxattr into a
# buffer one byte too small gets.
protocol() {
	"$FILED_PYTHON" -c '
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
    ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
p, n = os.fsencode(sys.argv[1]), os.fsencode("user.filed." + sys.argv[2])
v = os.getxattr(p, n)
size = libc.getxattr(p, n, None, 0)
buf = ctypes.create_string_buffer(size + 1)
short = libc.getxattr(p, n, buf, size - 1)
e = ctypes.get_errno()
print(v.decode(), size, errno.errorcode.get(e, e) if short == -1 else short)
' "$@"
}

test_expect_success 'start filed' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'default modes and owners of the tree' '
	cat >expect <<-EOF &&
	755 $(id -u):$(id -g) mnt
	750 $(id -u):$(id -g) mnt/active
	750 $(id -u):$(id -g) mnt/complete
	640 $(id -u):$(id -g) mnt/config.json
	750 $(id -u):$(id -g) mnt/failed
	440 $(id -u):$(id -g) mnt/new-id
	750 $(id -u):$(id -g) mnt/pending
	EOF
	stat -c "%a %u:%g %n" mnt mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >actual &&
	test_cmp expect actual
'

test_expect_success 'a blocking job holds the only slot' '
	gate block >mnt/pending/blocker &&
	wait_job_in active blocker
'

test_expect_success 'a queued job is a read-only regular file, 0440' '
	echo "echo hi" >mnt/pending/q &&
	wait_for 10 "test \"\$(xattr mnt/pending/q state)\" = pending" &&
	test "$(stat -c "%F %a" mnt/pending/q)" = "regular file 440"
'

test_expect_success 'a draft is 0640, writable by its owner' '
	echo "echo draft" >mnt/pending/.d &&
	test "$(stat -c %a mnt/pending/.d)" = 640
'

test_expect_success 'an active job is 0440' '
	test "$(stat -c %a mnt/active/blocker)" = 440
'

test_expect_success 'size is the number of bytes a read returns (pending, draft)' '
	test "$(stat -c %s mnt/pending/q)" = 8 &&
	test "$(stat -c %s mnt/pending/.d)" = "$(wc -c <mnt/pending/.d)"
'

test_expect_success 'atime and ctime equal mtime' '
	test "$(stat -c %X mnt/pending/q)" = "$(stat -c %Y mnt/pending/q)" &&
	test "$(stat -c %Z mnt/pending/q)" = "$(stat -c %Y mnt/pending/q)"
'

test_expect_success 'user.filed.changed is the mtime' '
	m=$(stat -c %Y mnt/pending/q) &&
	test "$(xattr mnt/pending/q changed)" = "$(date -u -d "@$m" +%Y-%m-%dT%H:%M:%SZ)"
'

test_expect_success 'mtime moves when the job changes state' '
	m1=$(stat -c %Y mnt/pending/q) &&
	wait_for 3 "test \$(date +%s) -gt $m1" &&
	open_gate block &&
	wait_job_in complete q &&
	m2=$(stat -c %Y mnt/complete/q) &&
	test "$m2" -gt "$m1"
'

test_expect_success 'size of a complete job is the size of its output' '
	test "$(stat -c %s mnt/complete/q)" = 3 &&
	test "$(wc -c <mnt/complete/q)" = 3
'

test_expect_success 'getfattr -d lists the user.filed. attributes' '
	getfattr -d mnt/complete/q >attrs &&
	for a in id state attempts uid created changed started ended duration \
		reason exit
	do
		grep "^user\.filed\.$a=" attrs || return 1
	done &&
	! grep "^user\.filed\.pid=" attrs &&
	! grep "^user\.filed\.retry_at=" attrs &&
	! grep "^user\.filed\.signal=" attrs
'

test_expect_success 'the attributes of a complete job have sensible values' '
	test "$(xattr mnt/complete/q state)" = complete &&
	test "$(xattr mnt/complete/q attempts)" = 1 &&
	test "$(xattr mnt/complete/q exit)" = 0 &&
	test "$(xattr mnt/complete/q uid)" = "$(id -u)" &&
	xattr mnt/complete/q id | grep "^[0-9][0-9]*$" &&
	xattr mnt/complete/q created | grep "$rfc3339" &&
	xattr mnt/complete/q started | grep "$rfc3339" &&
	xattr mnt/complete/q ended | grep "$rfc3339" &&
	! test "$(xattr mnt/complete/q ended)" \< "$(xattr mnt/complete/q started)"
'

test_expect_success 'a complete job says it ended by exit, and how long it ran' '
	test "$(xattr mnt/complete/q reason)" = exit &&
	xattr mnt/complete/q duration | grep "$seconds" &&
	absent mnt/complete/q signal pid retry_at
'

test_expect_success 'duration is the length of the last attempt, in seconds' '
	echo "sleep 1" >mnt/pending/second &&
	wait_job_in complete second &&
	longer mnt/complete/second 0.9 &&
	! longer mnt/complete/second 60
'

test_expect_success 'a queued job that never ran has no attempt to describe' '
	gate hold >mnt/pending/holder &&
	wait_job_in active holder &&
	echo true >mnt/pending/never &&
	wait_for 10 "test \"\$(xattr mnt/pending/never state)\" = pending" &&
	test "$(xattr mnt/pending/never attempts)" = 0 &&
	absent mnt/pending/never started ended duration reason exit signal \
		pid retry_at
'

test_expect_success 'a running job has a duration so far, that grows' '
	test "$(xattr mnt/active/holder state)" = active &&
	xattr mnt/active/holder pid | grep "^[0-9][0-9]*$" &&
	d=$(xattr mnt/active/holder duration) &&
	echo "$d" | grep "$seconds" &&
	wait_for 10 "longer mnt/active/holder $d" &&
	absent mnt/active/holder ended reason exit signal retry_at
'

test_expect_success 'once it ended, its duration stays and its pid is gone' '
	open_gate hold &&
	wait_job_in complete holder &&
	wait_job_in complete never &&
	d=$(xattr mnt/complete/holder duration) &&
	test "$(xattr mnt/complete/holder duration)" = "$d" &&
	absent mnt/complete/holder pid
'

test_expect_success 'job ids differ' '
	test "$(xattr mnt/complete/q id)" != "$(xattr mnt/complete/blocker id)"
'

test_expect_success 'a draft says state draft' '
	test "$(xattr mnt/pending/.d state)" = draft
'

test_expect_success 'a job still being written says state new' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/writing &&
	test "$(xattr mnt/pending/writing state 7>&-)" = new
'

test_expect_success 'a running job shows state active and its pid' '
	{
		echo "echo \$\$ >\"$TRASH/running.pid\"" &&
		gate running
	} >mnt/pending/running &&
	wait_job_in active running &&
	wait_for 10 "test -s running.pid" &&
	test "$(xattr mnt/active/running state)" = active &&
	test "$(xattr mnt/active/running pid)" = "$(cat running.pid)" &&
	xattr mnt/active/running started | grep "$rfc3339" &&
	open_gate running &&
	wait_job_in complete running
'

test_expect_success 'a failed job shows its exit status' '
	echo "exit 7" >mnt/pending/seven &&
	wait_job_in failed seven &&
	test "$(xattr mnt/failed/seven state)" = failed &&
	test "$(xattr mnt/failed/seven exit)" = 7 &&
	test "$(xattr mnt/failed/seven reason)" = exit &&
	xattr mnt/failed/seven duration | grep "$seconds" &&
	absent mnt/failed/seven signal pid
'

test_expect_success 'a job killed by a signal shows the signal by name' '
	echo "kill -KILL \$\$" >mnt/pending/sig &&
	wait_job_in failed sig &&
	test "$(xattr mnt/failed/sig signal)" = SIGKILL &&
	test "$(xattr mnt/failed/sig reason)" = signal &&
	xattr mnt/failed/sig duration | grep "$seconds" &&
	absent mnt/failed/sig exit pid
'

test_expect_success 'getfattr -d lists signal and reason of a killed job' '
	getfattr -d mnt/failed/sig >attrs &&
	grep "^user\.filed\.signal=\"SIGKILL\"$" attrs &&
	grep "^user\.filed\.reason=\"signal\"$" attrs &&
	grep "^user\.filed\.duration=\"[0-9]*\.[0-9][0-9][0-9]\"$" attrs
'

test_expect_success 'the size protocol: size 0 gives the length, too small ERANGE' '
	echo "signal 6 ERANGE" >expect &&
	protocol mnt/failed/sig reason >actual &&
	echo "SIGKILL 7 ERANGE" >>expect &&
	protocol mnt/failed/sig signal >>actual &&
	d=$(xattr mnt/failed/sig duration) &&
	echo "$d ${#d} ERANGE" >>expect &&
	protocol mnt/failed/sig duration >>actual &&
	test_cmp expect actual
'

test_expect_success 'unknown names and other namespaces: ENODATA' '
	test "$(errno_of getxattr mnt/failed/sig user.filed.signame)" = ENODATA &&
	test "$(errno_of getxattr mnt/failed/sig user.filed.Reason)" = ENODATA &&
	test "$(errno_of getxattr mnt/failed/sig user.reason)" = ENODATA &&
	test "$(errno_of getxattr mnt/pending user.filed.reason)" = ENODATA
'

test_expect_success 'a timed out job says timeout, and the signal that ended it' '
	echo "{\"timeout\": 0.5}" >mnt/config.json &&
	echo "sleep 100" >mnt/pending/slow &&
	wait_job_in failed slow 30 &&
	test "$(xattr mnt/failed/slow reason)" = timeout &&
	test "$(xattr mnt/failed/slow signal)" = SIGTERM &&
	xattr mnt/failed/slow duration | grep "$seconds" &&
	absent mnt/failed/slow exit pid
'

test_expect_success 'a timed out job that exits on SIGTERM says timeout and its status' '
	cat >mnt/pending/trapper <<-\EOF &&
	trap "exit 3" TERM
	sleep 100 &
	wait
	EOF
	wait_job_in failed trapper 30 &&
	test "$(xattr mnt/failed/trapper reason)" = timeout &&
	test "$(xattr mnt/failed/trapper exit)" = 3 &&
	absent mnt/failed/trapper signal pid &&
	echo "{\"timeout\": 0}" >mnt/config.json
'

test_expect_success 'a cancelled job says cancelled, and is killed by SIGKILL' '
	gate never >mnt/pending/cancelled &&
	wait_job_in active cancelled &&
	mv mnt/active/cancelled mnt/failed/ &&
	test "$(xattr mnt/failed/cancelled reason)" = cancelled &&
	xattr mnt/failed/cancelled duration | grep "$seconds" &&
	xattr mnt/failed/cancelled ended | grep "$rfc3339" &&
	absent mnt/failed/cancelled exit pid &&
	wait_for 10 "test \"\$(xattr mnt/failed/cancelled signal 2>/dev/null)\" = SIGKILL" &&
	test "$(xattr mnt/failed/cancelled reason)" = cancelled
'

test_expect_success 'a job waiting for a retry shows retry_at in the future' '
	echo "{\"max_retries\": 5, \"backoff_base\": 1000}" >mnt/config.json &&
	echo "exit 2" >mnt/pending/later &&
	wait_for 10 "xattr mnt/pending/later retry_at >/dev/null 2>&1" &&
	test "$(xattr mnt/pending/later state)" = pending &&
	test "$(xattr mnt/pending/later exit)" = 2 &&
	r=$(xattr mnt/pending/later retry_at) &&
	echo "$r" | grep "$rfc3339" &&
	test "$r" \> "$(date -u -d "+500 seconds" +%Y-%m-%dT%H:%M:%SZ)" &&
	rm mnt/pending/later &&
	echo "{\"max_retries\": 0, \"backoff_base\": 0}" >mnt/config.json
'

test_expect_success SETPRIV 'a job belongs to the user who created it' '
	chmod 0777 mnt/pending &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c "echo \"id -u\" >mnt/pending/bynobody" &&
	wait_job_in complete bynobody &&
	test "$(stat -c %u mnt/complete/bynobody)" = 65534 &&
	test "$(xattr mnt/complete/bynobody uid)" = 65534
'

test_expect_success SETPRIV 'the job of another user runs as the user filed runs as' '
	id -u >expect &&
	test_cmp expect mnt/complete/bynobody
'

test_expect_success 'a job file has the group of its directory' '
	chgrp 65534 mnt/complete &&
	echo true >mnt/pending/grouped &&
	wait_job_in complete grouped &&
	test "$(stat -c %g mnt/complete/grouped)" = 65534 &&
	test "$(stat -c %g mnt/pending/.d)" = "$(stat -c %g mnt/pending)"
'

test_expect_success 'chmod of a directory, new-id and config.json applies' '
	chmod 0700 mnt/failed &&
	chmod 0400 mnt/new-id &&
	chmod 0600 mnt/config.json &&
	chown 65534:65534 mnt/active &&
	test "$(stat -c %a mnt/failed)" = 700 &&
	test "$(stat -c %a mnt/new-id)" = 400 &&
	test "$(stat -c %a mnt/config.json)" = 600 &&
	test "$(stat -c %u:%g mnt/active)" = 65534:65534
'

test_expect_success 'setuid and setgid bits are dropped' '
	chmod 6775 mnt/pending &&
	test "$(stat -c %a mnt/pending)" = 775
'

test_expect_success 'modes and owners survive a restart' '
	stat -c "%a %u:%g %n" mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >expect &&
	filed_stop &&
	filed_start &&
	stat -c "%a %u:%g %n" mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >actual &&
	test_cmp expect actual
'

test_expect_success 'a job keeps its group across a restart' '
	test "$(stat -c %g mnt/complete/grouped)" = 65534
'

test_expect_success SETPRIV 'a job keeps its owner across a restart' '
	test "$(stat -c %u mnt/complete/bynobody)" = 65534
'

test_expect_success 'two jobs run when filed is stopped' '
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	gate int1 >mnt/pending/int1 &&
	gate int2 >mnt/pending/int2 &&
	wait_job_in active int1 &&
	wait_job_in active int2 &&
	filed_stop
'

# After the restart, with one slot, one of the two runs again and the
# other waits behind it: that one is looked at before it reruns.
test_expect_success 'after a restart, the one that waits says interrupted' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start &&
	wait_for 10 "test -e mnt/active/int1 || test -e mnt/active/int2" &&
	if test -e mnt/active/int1
	then
		r=int1 w=int2
	else
		r=int2 w=int1
	fi &&
	test "$(xattr mnt/pending/$w state)" = pending &&
	test "$(xattr mnt/pending/$w attempts)" = 1 &&
	test "$(xattr mnt/pending/$w reason)" = interrupted &&
	test "$(xattr mnt/pending/$w signal)" = SIGTERM &&
	xattr mnt/pending/$w duration | grep "$seconds" &&
	xattr mnt/pending/$w ended | grep "$rfc3339" &&
	absent mnt/pending/$w exit pid retry_at &&
	test "$(xattr mnt/active/$r attempts)" = 2 &&
	absent mnt/active/$r reason ended exit signal &&
	echo $w >waiting &&
	echo $r >running
'

test_expect_success 'when it reruns, reason is gone until the attempt ends' '
	w=$(cat waiting) &&
	open_gate $(cat running) &&
	wait_job_in active $w &&
	test "$(xattr mnt/active/$w attempts)" = 2 &&
	absent mnt/active/$w reason ended exit signal &&
	open_gate $w &&
	wait_job_in complete $w &&
	test "$(xattr mnt/complete/$w reason)" = exit &&
	test "$(xattr mnt/complete/$w exit)" = 0
'

# A new job's attributes may be cached by the kernel while its creator
# holds it (filed does not change them on its own meanwhile): what the
# creator's descriptor says must still be what stat says.
test_expect_success 'fstat of a job being written agrees with stat' '
	cat >fstat.py <<-\EOF &&
	import os, stat, sys
	p = sys.argv[1]
	def same(fd, what):
	    a, b = os.fstat(fd), os.stat(p)
	    for f in ("st_mode", "st_size", "st_nlink", "st_uid", "st_gid", "st_ino"):
	        if getattr(a, f) != getattr(b, f):
	            sys.exit("%s: fstat %s %o, stat %o" % (what, f, getattr(a, f), getattr(b, f)))
	    return a
	fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
	a = same(fd, "created")
	if a.st_size != 0 or not stat.S_ISREG(a.st_mode):
	    sys.exit("created: size %d mode %o" % (a.st_size, a.st_mode))
	os.write(fd, b"echo hello\n")
	a = same(fd, "written")
	if a.st_size != 11:
	    sys.exit("written: size %d" % a.st_size)
	os.chmod(p, 0o600)
	a = same(fd, "chmod")
	if stat.S_IMODE(a.st_mode) != 0o600:
	    sys.exit("chmod: mode %o" % a.st_mode)
	os.close(fd)
	EOF
	"$FILED_PYTHON" fstat.py mnt/pending/fstat-job &&
	wait_job_in complete fstat-job &&
	test "$(cat mnt/complete/fstat-job)" = hello &&
	rm mnt/complete/fstat-job
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
