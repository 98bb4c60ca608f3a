#!/bin/sh

test_description='what a job inherits from filed, and what filed logs

A job gets descriptors 0 to 3 and no others, whatever filed was started
with: filed keeps what it was given, close-on-exec. filed raises its own
soft limit on open files to the hard limit; a job gets the original
back. --exec-as and a #! line never search PATH. A
line filed logs over and over is printed once, then counted.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test "$(id -u)" = 0 && test_set_prereq ROOT
nofile_soft=$(ulimit -Sn)
nofile_hard=$(ulimit -Hn)
if test "$nofile_hard" = unlimited || test "$nofile_hard" -gt 300
then
	test_set_prereq NOFILE
fi
command -v prlimit >/dev/null 2>&1 && test_set_prereq PRLIMIT

# fds_of NAME: the descriptors listed by job NAME (exec ls -l /proc/self/fd),
# one "NUMBER TARGET" a line, without the one ls opened to list them.
fds_of() {
	sed -n -e 's/^l.* \([0-9][0-9]*\) -> \(.*\)$/\1 \2/p' "mnt/complete/$1" |
	grep -v "^[0-9]* /proc/[0-9]*/fd$" |
	sort -n
}

# expect_fds NAME: job NAME had 0 to 3, and 3 was its script.
expect_fds() {
	fds_of "$1" >fds.actual &&
	cut -d" " -f1 fds.actual >actual &&
	printf "0\n1\n2\n3\n" >expect &&
	test_cmp expect actual &&
	grep "^3 /memfd:filed-job" fds.actual &&
	! grep secret fds.actual
}

# cloexec PID FD: descriptor FD of process PID is open and close-on-exec.
cloexec() {
	flags=$(awk "/^flags:/ { print \$2 }" "/proc/$1/fdinfo/$2") &&
	test $(( 0$flags & 02000000 )) != 0
}

test_expect_success 'start filed with descriptors 7 and 9 open' '
	echo secret >secret &&
	filed_ini max_retries=0 backoff_base=0 &&
	filed_start 7>>secret 9<secret
'

test_expect_success 'filed keeps them, close-on-exec' '
	test "$(readlink /proc/$filed_pid/fd/7)" = "$TRASH/secret" &&
	test "$(readlink /proc/$filed_pid/fd/9)" = "$TRASH/secret" &&
	cloexec $filed_pid 7 &&
	cloexec $filed_pid 9
'

test_expect_success 'a job gets descriptors 0 to 3 only' '
	echo "exec ls -l /proc/self/fd" >mnt/pending/fds &&
	wait_job_in complete fds &&
	expect_fds fds
'

test_expect_success 'so does a job with a #!/bin/sh line' '
	printf "#!/bin/sh\nexec ls -l /proc/self/fd\n" >mnt/pending/fds-sh &&
	wait_job_in complete fds-sh &&
	expect_fds fds-sh
'

test_expect_success ROOT 'so does a job run as its submitter (--exec-as)' '
	echo "{\"run_as\": \"submitter\", \"allow_root\": 1}" >mnt/config.json &&
	echo "exec ls -l /proc/self/fd" >mnt/pending/fds-as &&
	wait_job_in complete fds-as &&
	echo "{\"run_as\": \"filed\", \"allow_root\": 0}" >mnt/config.json &&
	expect_fds fds-as
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_expect_success NOFILE 'filed raises its soft limit to the hard limit' '
	ulimit -Sn 256 &&
	filed_start -d &&
	ulimit -Sn "$nofile_soft" &&
	awk "/^Max open files/ { print \$4, \$5 }" /proc/$filed_pid/limits >limits &&
	read fsoft fhard <limits &&
	test "$fsoft" = "$fhard" &&
	test "$fsoft" != 256 &&
	filed_log | grep -x "filed: debug: open-file limit: $fsoft (jobs get 256)"
'

test_expect_success NOFILE 'a job gets the soft limit filed was started with' '
	echo "ulimit -Sn" >mnt/pending/nofile &&
	wait_job_in complete nofile &&
	echo 256 >expect &&
	test_cmp expect mnt/complete/nofile
'

test_expect_success NOFILE 'a #! interpreter is a path, never looked up on PATH' '
	printf "#!sh\necho ran\n" >mnt/pending/bare &&
	wait_job_in failed bare &&
	grep "filed: cannot run job .bare.: No such file or directory" mnt/failed/bare &&
	! grep ran mnt/failed/bare
'

test_expect_success NOFILE 'filed stops cleanly' '
	filed_stop
'

test_expect_success ROOT 'filed --exec-as never looks PROGRAM up on PATH' '
	filed_run 127 --exec-as 0 0 / sh -c true &&
	grep -x "filed: cannot run sh: No such file or directory" err &&
	filed_run 0 --exec-as 0 0 / /bin/sh -c "echo ran" &&
	echo ran >expect &&
	test_cmp expect out
'

# With its soft limit on open files at the lowest free descriptor, filed
# cannot open a log for a job, and says so each time it looks at the run
# queue: at every new job.
test_expect_success PRLIMIT 'out of descriptors: the line is logged once, and the jobs start once there are some again' '
	filed_start &&
	fd=0 &&
	while test -e /proc/$filed_pid/fd/$fd
	do
		fd=$((fd + 1))
	done &&
	prlimit --pid $filed_pid --nofile=$fd: &&
	for i in 1 2 3 4 5 6 7 8
	do
		echo true >mnt/pending/emfile$i || return 1
	done &&
	path_is_missing mnt/complete/emfile1 &&
	prlimit --pid $filed_pid --nofile=$nofile_hard: &&
	for i in 1 2 3 4 5 6 7 8
	do
		wait_job_in complete emfile$i || return 1
	done &&
	filed_stop &&
	filed_log >log &&
	cat log &&
	grep "^filed: job .emfile1.: cannot .*: Too many open files$" log >lines &&
	test $(wc -l <lines) = 1 &&
	grep "^filed: last message repeated [0-9]* times$" log
'


# Readers of one job share one descriptor of its log in filed: a user who
# may only read cannot use up filed's descriptors by opening one file many
# times.
test_expect_success 'thousands of opens of one job cost filed one descriptor' '
	filed_start &&
	echo "echo shared" >mnt/pending/shared &&
	wait_job_in complete shared &&
	before=$(ls /proc/$filed_pid/fd | wc -l) &&
	"$FILED_PYTHON" - mnt/complete/shared $filed_pid >opened <<-\EOF &&
	import os, resource, sys
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	n = min(hard, 20000) - 64
	resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, hard))
	fds = [os.open(sys.argv[1], os.O_RDONLY) for i in range(n)]
	assert os.read(fds[-1], 100) == b"shared\n"
	print(n, len(os.listdir("/proc/%s/fd" % sys.argv[2])))
	EOF
	read n during <opened &&
	echo "$n opens: filed had $before descriptors, then $during" &&
	test "$n" -ge 1000 &&
	test "$during" -le $((before + 1)) &&
	echo "echo after" >mnt/pending/after &&
	wait_job_in complete after &&
	test "$(ls /proc/$filed_pid/fd | wc -l)" -le $((before + 1)) &&
	filed_stop
'

test_done
